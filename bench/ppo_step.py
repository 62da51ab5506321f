"""One PPO update (loss, gradients, Adam step): frl against TorchRL's ClipPPOLoss, in one run.

The network is TorchRL's README PPO network: actor and critic MLPs with 3 hidden layers of 128 and
tanh, observation dim 3, action dim 1 (Pendulum), a TanhNormal policy, a batch of 256 transitions,
Adam. Both sides compute the same terms: clipped surrogate, smooth-L1 critic loss, and a one-sample
Monte-Carlo entropy bonus (TanhNormal has no closed-form entropy).

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
    import frl
    from frl.train.ppo import readme_ppo_update  # noqa: F401  (defined with the PPO trainer)
    raise NotImplementedError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torchrl", action="store_true", help="(internal) run the TorchRL rows only")
    parser.add_argument("--iters", type=int, default=100)
    args = parser.parse_args()
    if args.torchrl:
        emit(torchrl_rows(args.iters))
        return
    print(machine_line())
    ours = frl_rows(args.iters)
    theirs = run_comparator(__file__, ["--iters", str(args.iters)])
    print(ours, theirs)


if __name__ == "__main__":
    main()
