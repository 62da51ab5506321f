"""One PPO update (loss, gradients, Adam step): frl against TorchRL's ClipPPOLoss and against a plain
torch.func update with no library (the floor the README's Benchmarks section quotes), in one run.

The network is TorchRL's README PPO network: actor and critic MLPs with 3 hidden layers of 128 and
tanh, observation dim 3, action dim 1 (Pendulum), a TanhNormal policy, a batch of 256 transitions,
Adam. Both sides compute the clipped surrogate, the smooth-L1 critic loss and an entropy bonus;
TanhNormal has no closed-form entropy, so TorchRL draws a one-sample Monte-Carlo estimate and frl
integrates it with a 48-point Gauss-Hermite rule (deterministic, and no cheaper to compute; see
`frl/nn/distributions.py`).

    python bench/ppo_step.py            # frl rows here, TorchRL rows in FRL_TORCHRL_PYTHON

Compile time is the first call of a freshly compiled update, reported separately from the per-step time.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine_line, print_table, run_comparator, time_call, time_first_call  # noqa: E402

OBS, ACT, CELLS, DEPTH, BATCH, LR = 3, 1, 128, 3, 256, 3e-4


def random_batch(gen: torch.Generator) -> dict:
    return {
        "observation": torch.randn(BATCH, OBS, generator=gen),
        "action": torch.rand(BATCH, ACT, generator=gen) * 3.8 - 1.9,
        "action_log_prob": torch.randn(BATCH, generator=gen) - 1.0,
        "advantage": torch.randn(BATCH, 1, generator=gen),
        "value_target": torch.randn(BATCH, 1, generator=gen),
    }


def torchrl_rows(iters: int) -> dict:
    """Runs in the TorchRL interpreter: TorchRL's ClipPPOLoss + torch.optim.Adam, eager and compiled."""
    from tensordict import TensorDict
    from tensordict.nn import NormalParamExtractor, TensorDictModule

    # TorchRL is installed only in FRL_TORCHRL_PYTHON's interpreter, where this function runs.
    from torchrl.modules import MLP, ProbabilisticActor, TanhNormal, ValueOperator  # pyright: ignore[reportMissingImports]
    from torchrl.objectives import ClipPPOLoss  # pyright: ignore[reportMissingImports]

    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("FRL_BENCH_THREADS", torch.get_num_threads())))
    actor_net = torch.nn.Sequential(
        MLP(in_features=OBS, out_features=2 * ACT, depth=DEPTH, num_cells=CELLS, activation_class=torch.nn.Tanh),
        NormalParamExtractor())
    actor = ProbabilisticActor(TensorDictModule(actor_net, ["observation"], ["loc", "scale"]),
                               in_keys=["loc", "scale"], distribution_class=TanhNormal,
                               distribution_kwargs={"low": -2.0, "high": 2.0}, return_log_prob=True)
    critic = ValueOperator(MLP(in_features=OBS, out_features=1, depth=DEPTH, num_cells=CELLS,
                               activation_class=torch.nn.Tanh), in_keys=["observation"])
    loss_fn = ClipPPOLoss(actor, critic, clip_epsilon=0.2, entropy_coeff=0.01, critic_coeff=1.0,
                          loss_critic_type="smooth_l1")
    optim = torch.optim.Adam(loss_fn.parameters(), lr=LR)
    b = random_batch(torch.Generator().manual_seed(0))
    td = TensorDict({"observation": b["observation"], "action": b["action"],
                     "action_log_prob": b["action_log_prob"], "sample_log_prob": b["action_log_prob"],
                     "advantage": b["advantage"], "value_target": b["value_target"]}, batch_size=[BATCH])

    def update(td):
        out = loss_fn(td)
        loss = out["loss_objective"] + out["loss_critic"] + out["loss_entropy"]
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        return out.detach()

    result: dict[str, float | str] = {"eager_ms": time_call(lambda: update(td), iters=iters) * 1e3}
    compiled = torch.compile(update)
    result["compile_s"] = time_first_call(lambda: compiled(td))
    result["compiled_ms"] = time_call(lambda: compiled(td), iters=iters) * 1e3
    result["torch"] = torch.__version__
    return result


def frl_rows(iters: int) -> dict:
    """frl's make_ppo_update with the same network, batch and optimizer, eager and compiled."""
    from tensordict import TensorDict

    import frl
    from frl import random as fr

    torch.set_num_threads(int(os.environ.get("FRL_BENCH_THREADS", torch.get_num_threads())))
    cells = (CELLS,) * DEPTH
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(OBS, 2 * ACT, num_cells=cells, activation="tanh"),
                                       distribution="tanh_normal", action_low=-2.0, action_high=2.0)
    critic = frl.nn.value_operator(frl.nn.mlp(OBS, 1, num_cells=cells, activation="tanh"))
    k_actor, k_critic = fr.split(fr.key(0))
    params = TensorDict(actor=actor.init(k_actor), critic=critic.init(k_critic))
    optimizer = frl.optim.adam(LR)
    update = frl.train.make_ppo_update(actor.get_dist, critic.apply, optimizer, clip_epsilon=0.2,
                                       entropy_coef=0.01, critic_coef=1.0, critic_loss="smooth_l1")
    batch = TensorDict(random_batch(torch.Generator().manual_seed(0)), batch_size=[BATCH])
    state = {"params": params, "opt": optimizer.init(params)}

    def step(fn):
        state["params"], state["opt"], metrics = fn(state["params"], state["opt"], batch)
        return metrics

    result: dict[str, float | str] = {"eager_ms": time_call(lambda: step(update), iters=iters) * 1e3}
    compiled = torch.compile(update, fullgraph=True)
    result["compile_s"] = time_first_call(lambda: step(compiled))
    result["compiled_ms"] = time_call(lambda: step(compiled), iters=iters) * 1e3
    result["torch"] = torch.__version__
    return result


def plain_rows(iters: int) -> dict:
    """The floor the README quotes: a plain torch.func PPO update with no library, eager and compiled.

    The same networks, batch and optimizer, written directly: ``torch.func.functional_call`` on
    ``torch.nn.Sequential`` MLPs, the TanhNormal log-density of the stored action, the clipped
    surrogate, the smooth-L1 critic loss, and Adam as six tensor expressions per leaf. Its entropy
    bonus is the pre-tanh Gaussian's closed form (cheaper than frl's 48-point quadrature of the
    TanhNormal's entropy), so it does slightly less work than frl's update.
    """
    import math

    from torch.func import functional_call, grad_and_value

    from frl._compat import pytree

    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("FRL_BENCH_THREADS", torch.get_num_threads())))

    def mlp(out):
        layers, width = [], OBS
        for _ in range(DEPTH):
            layers += [torch.nn.Linear(width, CELLS), torch.nn.Tanh()]
            width = CELLS
        return torch.nn.Sequential(*layers, torch.nn.Linear(width, out))

    actor, critic = mlp(2 * ACT), mlp(1)
    params = {"actor": {k: v.detach() for k, v in actor.named_parameters()},
              "critic": {k: v.detach() for k, v in critic.named_parameters()}}
    b = random_batch(torch.Generator().manual_seed(0))

    def loss(p, b):
        loc, raw_scale = functional_call(actor, p["actor"], (b["observation"],)).chunk(2, -1)
        scale = torch.nn.functional.softplus(raw_scale) + 1e-4
        a = (b["action"] / 2.0).clamp(-0.999999, 0.999999)  # the tanh squashing onto [-2, 2]
        u = torch.atanh(a)
        log_prob = (-0.5 * ((u - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)
                    - torch.log(2.0 * (1 - a ** 2) + 1e-6)).sum(-1)
        ratio = (log_prob - b["action_log_prob"]).exp()
        adv = b["advantage"].squeeze(-1)
        surrogate = -torch.minimum(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()
        entropy = (0.5 + 0.5 * math.log(2 * math.pi) + scale.log()).sum(-1).mean()
        value = functional_call(critic, p["critic"], (b["observation"],))
        return surrogate + torch.nn.functional.smooth_l1_loss(value, b["value_target"]) - 0.01 * entropy

    def update(p, m, v, t, b):
        g, _ = grad_and_value(loss)(p, b)
        t = t + 1
        p_l, g_l, m_l, v_l = (pytree.tree_leaves(x) for x in (p, g, m, v))
        m = [0.9 * mi + 0.1 * gi for mi, gi in zip(m_l, g_l, strict=True)]
        v = [0.999 * vi + 0.001 * gi * gi for vi, gi in zip(v_l, g_l, strict=True)]
        new = [pi - LR * (mi / (1 - 0.9 ** t)) / ((vi / (1 - 0.999 ** t)).sqrt() + 1e-8)
               for pi, mi, vi in zip(p_l, m, v, strict=True)]
        spec = pytree.tree_structure(p)
        return (*(pytree.tree_unflatten(x, spec) for x in (new, m, v)), t)

    state = [params, pytree.tree_map(torch.zeros_like, params), pytree.tree_map(torch.zeros_like, params),
             torch.zeros(())]

    def step(fn):
        state[:] = fn(*state, b)

    result = {"eager_ms": time_call(lambda: step(update), iters=iters) * 1e3}
    compiled = torch.compile(update, fullgraph=True)
    result["compile_s"] = time_first_call(lambda: step(compiled))
    result["compiled_ms"] = time_call(lambda: step(compiled), iters=iters) * 1e3
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torchrl", action="store_true", help="(internal) run the TorchRL rows only")
    parser.add_argument("--iters", type=int, default=100)
    args = parser.parse_args()
    if args.torchrl:
        emit(torchrl_rows(args.iters))
        return
    print(machine_line())
    print(f"PPO update: actor and critic MLPs {DEPTH}x{CELLS} tanh, obs {OBS}, action {ACT}, batch {BATCH}, Adam")
    ours = frl_rows(args.iters)
    plain = plain_rows(args.iters)
    theirs = run_comparator(__file__, ["--iters", str(args.iters)])
    rows = [["frl", ours["torch"], ours["eager_ms"], ours["compiled_ms"], ours["compile_s"]],
            ["plain torch.func (no library)", ours["torch"], plain["eager_ms"], plain["compiled_ms"],
             plain["compile_s"]]]
    if theirs:
        rows.append(["TorchRL ClipPPOLoss", theirs["torch"], theirs["eager_ms"], theirs["compiled_ms"],
                     theirs["compile_s"]])
    print_table(["", "torch", "eager ms", "compiled ms", "compile s"], rows)
    print(f"compiled update: frl takes {ours['compiled_ms'] / plain['compiled_ms']:.2f}x the plain torch.func "
          "update's time (the floor without a library)")
    if theirs:
        print(f"compiled update: frl is {theirs['compiled_ms'] / ours['compiled_ms']:.2f}x faster; "
              f"eager: {theirs['eager_ms'] / ours['eager_ms']:.2f}x; "
              f"compile time: {theirs['compile_s'] / ours['compile_s']:.1f}x shorter")


if __name__ == "__main__":
    main()
