"""One PPO update (loss, gradients, Adam step): frl against TorchRL's ClipPPOLoss, in one run.

The network is TorchRL's README PPO network: actor and critic MLPs with 3 hidden layers of 128 and
tanh, observation dim 3, action dim 1 (Pendulum), a TanhNormal policy, a batch of 256 transitions,
Adam. Both sides compute the clipped surrogate, the smooth-L1 critic loss and an entropy bonus;
TanhNormal has no closed-form entropy, so TorchRL draws a one-sample Monte-Carlo estimate and frl
integrates it with a 24-point Gauss-Hermite rule (deterministic, and no cheaper to compute).

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
    from torchrl.modules import MLP, ProbabilisticActor, TanhNormal, ValueOperator
    from torchrl.objectives import ClipPPOLoss

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

    result = {"eager_ms": time_call(lambda: update(td), iters=iters) * 1e3}
    compiled = torch.compile(update)
    result["compile_s"] = time_first_call(lambda: compiled(td))
    result["compiled_ms"] = time_call(lambda: compiled(td), iters=iters) * 1e3
    result["torch"] = torch.__version__
    return result


def frl_rows(iters: int) -> dict:
    """frl's make_ppo_update with the same network, batch and optimizer, eager and compiled."""
    from tensordict import TensorDict

    import frl

    torch.set_num_threads(int(os.environ.get("FRL_BENCH_THREADS", torch.get_num_threads())))
    cells = (CELLS,) * DEPTH
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(OBS, 2 * ACT, num_cells=cells, activation="tanh"),
                                       distribution="tanh_normal", action_low=-2.0, action_high=2.0)
    critic = frl.nn.value_operator(frl.nn.mlp(OBS, 1, num_cells=cells, activation="tanh"))
    k_actor, k_critic = frl.random.split(frl.random.key(0))
    params = TensorDict(actor=actor.init(k_actor), critic=critic.init(k_critic))
    optimizer = frl.optim.adam(LR)
    update = frl.train.make_ppo_update(actor.get_dist, critic.apply, optimizer, clip_epsilon=0.2,
                                       entropy_coef=0.01, critic_coef=1.0, critic_loss="smooth_l1")
    batch = TensorDict(random_batch(torch.Generator().manual_seed(0)), batch_size=[BATCH])
    state = {"params": params, "opt": optimizer.init(params)}

    def step(fn):
        state["params"], state["opt"], metrics = fn(state["params"], state["opt"], batch)
        return metrics

    result = {"eager_ms": time_call(lambda: step(update), iters=iters) * 1e3}
    compiled = torch.compile(update, fullgraph=True)
    result["compile_s"] = time_first_call(lambda: step(compiled))
    result["compiled_ms"] = time_call(lambda: step(compiled), iters=iters) * 1e3
    result["torch"] = torch.__version__
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
    theirs = run_comparator(__file__, ["--iters", str(args.iters)])
    rows = [["frl", ours["torch"], ours["eager_ms"], ours["compiled_ms"], ours["compile_s"]]]
    if theirs:
        rows.append(["TorchRL ClipPPOLoss", theirs["torch"], theirs["eager_ms"], theirs["compiled_ms"],
                     theirs["compile_s"]])
    print_table(["", "torch", "eager ms", "compiled ms", "compile s"], rows)
    if theirs:
        print(f"compiled update: frl is {theirs['compiled_ms'] / ours['compiled_ms']:.2f}x faster; "
              f"eager: {theirs['eager_ms'] / ours['eager_ms']:.2f}x; "
              f"compile time: {theirs['compile_s'] / ours['compile_s']:.1f}x shorter")


if __name__ == "__main__":
    main()
