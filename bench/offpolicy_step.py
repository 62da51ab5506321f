"""One SAC update and one TD3 update: frl against TorchRL's SACLoss / TD3Loss, in one run.

The networks are those of examples/sac_pendulum.py and examples/td3_pendulum.py: observation dim 3,
action dim 1 (Pendulum, bounds [-2, 2]), actor and critics MLPs with 2 hidden layers of 256 and ReLU,
a twin Q ensemble, a batch of 256 random transitions, Adam (lr 3e-4), gamma 0.99, squared-error
critic losses. One update is the loss, the gradients, one Adam step of everything that learns and the
Polyak update (tau 0.005) of the target networks:

* SAC: tanh-Gaussian actor, learned temperature (log-alpha is stepped too), target Q ensemble
  (TorchRL: ``SACLoss(delay_actor=False, delay_qvalue=True)``, as its sota-implementations/sac);
* TD3: deterministic tanh-bounded actor, target actor and target critics, target-policy smoothing
  noise 0.2 clipped at 0.5; the actor is stepped on every call (no policy delay), so both sides do
  the same work on every call.

frl's update is one pure function ``(params, target, opt_state, batch, key) -> (params, target,
opt_state, metrics)`` built from `frl.objectives.sac_loss` / `td3_loss`, `frl.optim.adam` and
`frl.train.soft_update`, compiled whole with ``torch.compile(fullgraph=True)`` as the examples do
(`frl.train.compile_step`: no guards on module globals). TorchRL's update is its
sota-implementations' ``update``: the loss module's forward, ``backward()``, ``torch.optim.Adam``
over the loss module's parameters, ``SoftUpdate.step()``, compiled with ``torch.compile`` (with
``fullgraph=True`` where that traces; the table says which).

    python bench/offpolicy_step.py            # frl rows here, TorchRL rows in FRL_TORCHRL_PYTHON
    python bench/offpolicy_step.py --smoke    # frl eager rows only, 2 iterations (a test runs this)

Per-update times are the median over repeats of the mean over ``--iters`` calls; compile time is the
first call of a freshly compiled update, reported separately.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import shutil
import sys
import tempfile

# Compile times are cold ones: each process compiles into a fresh inductor cache (an earlier run's
# on-disk cache would otherwise serve the kernels and shorten the next run's first call severalfold).
os.environ["TORCHINDUCTOR_CACHE_DIR"] = _CACHE = tempfile.mkdtemp(prefix="frl_offpolicy_step_inductor_")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine_line, print_table, run_comparator, time_call, time_first_call  # noqa: E402

OBS, ACT, CELLS, BATCH, LR, GAMMA, TAU = 3, 1, (256, 256), 256, 3e-4, 0.99, 0.005
LOW, HIGH, ALPHA_INIT, POLICY_NOISE, NOISE_CLIP = -2.0, 2.0, 1.0, 0.2, 0.5
ALGOS = ("sac", "td3")


def random_batch(gen: torch.Generator) -> dict:
    """A batch of transitions in TorchRL's layout (nested "next"), as plain tensors."""
    terminated = torch.rand(BATCH, 1, generator=gen) < 0.05
    truncated = (torch.rand(BATCH, 1, generator=gen) < 0.05) & ~terminated
    return {
        "observation": torch.randn(BATCH, OBS, generator=gen),
        "action": torch.rand(BATCH, ACT, generator=gen) * (HIGH - LOW) + LOW,
        "next": {"observation": torch.randn(BATCH, OBS, generator=gen),
                 "reward": torch.randn(BATCH, 1, generator=gen),
                 "terminated": terminated, "truncated": truncated, "done": terminated | truncated},
    }


def _timings(update, compile_fn, iters: int, smoke: bool) -> dict:
    """Eager ms, then compile s and compiled ms of ``compile_fn(update)`` (a zero-argument call each)."""
    result = {"eager_ms": time_call(update(None), warmup=1 if smoke else 3, iters=iters,
                                    repeats=1 if smoke else 5) * 1e3}
    if smoke:
        return result
    torch._dynamo.reset()  # the other algorithm's compiled update shares this code object: start clean
    step = update(compile_fn)
    result["compile_s"] = time_first_call(step)
    result["compiled_ms"] = time_call(step, iters=iters) * 1e3
    return result


# --- TorchRL (runs in the TorchRL interpreter) ---------------------------------------------------

def torchrl_rows(iters: int) -> dict:
    """TorchRL's SACLoss / TD3Loss + torch.optim.Adam + SoftUpdate, eager and compiled."""
    from tensordict import TensorDict
    from tensordict.nn import NormalParamExtractor, TensorDictModule, TensorDictSequential

    # TorchRL is installed only in FRL_TORCHRL_PYTHON's interpreter, where this function runs.
    from torchrl.data import Bounded  # pyright: ignore[reportMissingImports]
    from torchrl.modules import (  # pyright: ignore[reportMissingImports]
        MLP,
        Actor,
        ProbabilisticActor,
        TanhModule,
        TanhNormal,
        ValueOperator,
    )
    from torchrl.objectives import SACLoss, SoftUpdate, TD3Loss  # pyright: ignore[reportMissingImports]

    torch.manual_seed(0)
    spec = Bounded(LOW, HIGH, shape=(ACT,))
    batch = TensorDict(random_batch(torch.Generator().manual_seed(0)), batch_size=[BATCH])

    def qvalue():
        return ValueOperator(MLP(in_features=OBS + ACT, out_features=1, num_cells=list(CELLS),
                                 activation_class=torch.nn.ReLU), in_keys=["observation", "action"])

    def build(algo):
        if algo == "sac":
            net = torch.nn.Sequential(MLP(in_features=OBS, out_features=2 * ACT, num_cells=list(CELLS),
                                          activation_class=torch.nn.ReLU), NormalParamExtractor())
            actor = ProbabilisticActor(TensorDictModule(net, ["observation"], ["loc", "scale"]),
                                       in_keys=["loc", "scale"], spec=spec, distribution_class=TanhNormal,
                                       distribution_kwargs={"low": LOW, "high": HIGH, "tanh_loc": False})
            loss_fn = SACLoss(actor, qvalue(), num_qvalue_nets=2, loss_function="l2", delay_actor=False,
                              delay_qvalue=True, alpha_init=ALPHA_INIT, action_spec=spec)
        else:
            actor = TensorDictSequential(
                Actor(MLP(in_features=OBS, out_features=ACT, num_cells=list(CELLS), activation_class=torch.nn.ReLU),
                      in_keys=["observation"], out_keys=["param"]),
                TanhModule(in_keys=["param"], out_keys=["action"], spec=spec))
            loss_fn = TD3Loss(actor, qvalue(), action_spec=spec, num_qvalue_nets=2, policy_noise=POLICY_NOISE,
                              noise_clip=NOISE_CLIP, loss_function="l2")
        loss_fn.make_value_estimator(gamma=GAMMA)
        # Targets are buffers of the loss module, not parameters: Adam steps only what learns.
        return loss_fn, SoftUpdate(loss_fn, tau=TAU), torch.optim.Adam(loss_fn.parameters(), lr=LR)

    def measure(algo: str) -> dict:
        loss_fn, target_updater, optim = build(algo)
        terms = [k for k in ("loss_actor", "loss_qvalue", "loss_alpha") if algo == "sac" or k != "loss_alpha"]

        def update(td):  # sota-implementations/sac/sac.py's update; TD3 steps its actor every call
            out = loss_fn(td)
            loss = out[terms[0]]
            for k in terms[1:]:
                loss = loss + out[k]
            loss.backward()
            optim.step()
            optim.zero_grad(set_to_none=True)
            target_updater.step()
            return out.detach()

        def make(compile_fn):
            fn = update if compile_fn is None else compile_fn(update)
            return lambda: fn(batch)

        row: dict[str, object] = {"eager_ms": time_call(make(None), iters=iters) * 1e3}
        torch._dynamo.reset()  # the other algorithm's compiled update shares this code object: start clean
        fullgraph = True
        try:
            step = make(functools.partial(torch.compile, fullgraph=True))
            row["compile_s"] = time_first_call(step)
        except Exception as e:  # noqa: BLE001 - dynamo's graph-break error: retry without fullgraph
            torch._dynamo.reset()
            row["fullgraph_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
            fullgraph = False
            step = make(functools.partial(torch.compile, fullgraph=False))
            row["compile_s"] = time_first_call(step)
        row["compiled_ms"] = time_call(step, iters=iters) * 1e3
        row["fullgraph"] = fullgraph
        return row

    result: dict[str, object] = {"torch": torch.__version__}
    for algo in ALGOS:
        result[algo] = measure(algo)
    return result


# --- frl --------------------------------------------------------------------------------------

def frl_update(algo: str):
    """``(update, state)``: frl's pure update ``(params, target, opt_state, batch, key) -> (...)`` and its start.

    The update is `frl.train.make_sac_update` / `make_td3_update` (the actor stepped every call)
    followed by the Polyak update of the targets, as in the examples.
    """
    from tensordict import TensorDict

    import frl
    from frl import random as fr
    from frl.train import make_sac_update, make_td3_update, soft_update

    optimizer = frl.optim.adam(LR)
    qnet = frl.nn.q_value_operator(frl.nn.mlp(OBS + ACT, 1, num_cells=CELLS, activation="relu"))
    k_actor, k_q = fr.split(fr.key(0))
    qvalue = torch.vmap(qnet.init)(fr.split(k_q, 2))  # the twin ensemble, stacked

    if algo == "sac":
        actor = frl.nn.probabilistic_actor(frl.nn.mlp(OBS, 2 * ACT, num_cells=CELLS, activation="relu"),
                                           action_low=LOW, action_high=HIGH)
        params = TensorDict(actor=actor.init(k_actor), qvalue=qvalue, log_alpha=torch.tensor(ALPHA_INIT).log())
        target, opt_state = qvalue.clone(), optimizer.init(params)
        sac = make_sac_update(actor.get_dist, qnet.apply, optimizer, gamma=GAMMA)

        def update(params, target, opt_state, batch, key):
            params, opt_state, metrics, _ = sac(params, target, opt_state, batch, key)
            return params, soft_update(target, params["qvalue"], TAU), opt_state, metrics
    else:
        actor = frl.nn.deterministic_actor(frl.nn.mlp(OBS, ACT, CELLS, activation="relu"),
                                           action_low=LOW, action_high=HIGH)
        params = TensorDict(actor=actor.init(k_actor), qvalue=qvalue)
        target = params.clone()  # TD3 keeps a target actor as well as target critics
        opt_state = {"actor": optimizer.init(params["actor"]), "qvalue": optimizer.init(params["qvalue"])}
        td3 = make_td3_update(actor.apply, qnet.apply, optimizer, gamma=GAMMA, policy_noise=POLICY_NOISE,
                              noise_clip=NOISE_CLIP, action_low=LOW, action_high=HIGH)

        def update(params, target, opt_state, batch, key):
            params, opt_state, metrics, _ = td3(params, target, opt_state, batch, key)  # actor every call
            return params, soft_update(target, params, TAU), opt_state, metrics

    # Dense leaves (vmap's init may give other strides): the compiled update then never recompiles.
    return update, frl.tree.dense({"params": params, "target": target, "opt": opt_state})


def frl_rows(iters: int, smoke: bool = False) -> dict:
    """frl's pure SAC / TD3 updates with the same networks, batch and optimizer, eager and compiled."""
    from tensordict import TensorDict

    import frl
    from frl import random as fr

    jit = frl.train.compile_step  # the examples' compile: fullgraph=True
    batch = TensorDict(random_batch(torch.Generator().manual_seed(0)), batch_size=[BATCH])
    keys = fr.split(fr.key(1), 64)  # a fresh key per call, cycled
    result: dict[str, object] = {"torch": torch.__version__}
    for algo in ALGOS:
        update, start = frl_update(algo)

        def make(compile_fn, update=update, start=start):
            fn = update if compile_fn is None else compile_fn(update)
            state, calls = dict(start), [0]

            def step():
                key = keys[calls[0] % len(keys)]
                calls[0] += 1
                state["params"], state["target"], state["opt"], metrics = fn(
                    state["params"], state["target"], state["opt"], batch, key)
                return metrics
            return step

        result[algo] = _timings(make, jit, iters, smoke)
    return result


# --- the run ----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torchrl", action="store_true", help="(internal) run the TorchRL rows only")
    parser.add_argument("--iters", type=int, default=20, help="calls per timed repeat (5 repeats)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (both sides)")
    parser.add_argument("--smoke", action="store_true", help="frl eager rows only, 2 iterations, no comparator")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.torchrl:
        emit(torchrl_rows(args.iters))
        return
    iters = 2 if args.smoke else args.iters
    print(machine_line())
    print(f"one update: actor and twin critics MLPs 2x{CELLS[0]} relu, obs {OBS}, action {ACT}, batch {BATCH}, "
          f"Adam lr {LR}, gamma {GAMMA}, Polyak tau {TAU}; median of repeats of {iters} calls")
    ours = frl_rows(iters, smoke=args.smoke)
    theirs = None if args.smoke else run_comparator(__file__, ["--iters", str(iters), "--threads", str(args.threads)])
    names = {"sac": "SACLoss", "td3": "TD3Loss"}
    rows, notes = [], []
    for algo in ALGOS:
        mine = ours[algo]
        rows.append([f"{algo.upper()} frl", ours["torch"], mine["eager_ms"], mine.get("compiled_ms"),
                     mine.get("compile_s"), "fullgraph" if not args.smoke else "-"])
        if theirs:
            other = theirs[algo]
            rows.append([f"{algo.upper()} TorchRL {names[algo]}", theirs["torch"], other["eager_ms"],
                         other["compiled_ms"], other["compile_s"],
                         "fullgraph" if other["fullgraph"] else "graph breaks"])
            rows.append([f"{algo.upper()} ratio frl/TorchRL", "", mine["eager_ms"] / other["eager_ms"],
                         mine["compiled_ms"] / other["compiled_ms"], mine["compile_s"] / other["compile_s"], ""])
            if not other["fullgraph"]:
                notes.append(f"TorchRL {names[algo]}: torch.compile(fullgraph=True) failed "
                             f"({other['fullgraph_error']}); its compiled row is torch.compile without fullgraph")
    print_table(["", "torch", "eager ms", "compiled ms", "compile s", "compile"], rows)
    for note in notes:
        print(note)
    if not args.smoke:
        print("frl compiled: torch.compile(fullgraph=True) via frl.train.compile_step (as the examples; "
              "no guards on module globals); compile s: first call, cold inductor cache")
    if theirs:
        print("ratio < 1: frl takes less time than TorchRL")


if __name__ == "__main__":
    main()
