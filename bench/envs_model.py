"""Imagination rollouts: an ensemble of 5 learned models x 4096 start states x 15 steps.

The model is the one of ``examples/model_based_pendulum.py``: an MLP 4 -> 64 -> 64 -> 3 (SiLU)
predicting the observation delta of Pendulum from (cos, sin, theta_dot, torque), with a known
reward. Every row runs the same rollout: the same 5 members' weights, the same 4096 start states and
the same action sequences [4096, 15, 1]; it counts model steps (one start state advancing one step
under one model: 5 x 4096 x 15 = 307,200 per rollout).

* frl, compiled: ``torch.vmap(lambda p: frl.envs.rollout(model.bind(p), policy, td, 15))`` over the
  stacked params of the 5 members, under ``torch.compile(fullgraph=True)``; its first call (the
  compile time) is reported separately. Once with the action value check on (the default), once off.
* frl, vmapped, eager: the same function without compile.
* eager Python loop over models: ``frl.envs.rollout(model.bind(p_i), ...)`` for each member in turn,
  uncompiled: what one writes without vmap.
* TorchRL: a ``ModelBasedEnvBase`` over a ``WorldModelWrapper`` of the same network and reward, with
  ``env.rollout(15, policy, tensordict=..., auto_reset=False)`` for each member in turn (TorchRL has
  no vmap over an ensemble of envs); run in TorchRL's own interpreter (see ``bench/_common.py``).

    PYTHONPATH=. python bench/envs_model.py [--starts 4096] [--horizon 15] [--threads 1]   # from the repository root

Timings are medians of repeated runs after warm-up; the ratio column is frl compiled's rate over each row's.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine_line, print_table, run_comparator, time_call, time_first_call  # noqa: E402

MODELS, OBS, ACT, CELLS = 5, 3, 1, 64


def inputs(starts: int, horizon: int, seed: int = 0):
    """The shared inputs, from torch's seeded generator so that both interpreters build the same ones:
    weights in torch.nn.Sequential's layout [5 members], start observations, action sequences."""
    g = torch.Generator().manual_seed(seed)
    members = []
    for _ in range(MODELS):
        members.append({name: torch.randn(shape, generator=g) * scale for name, shape, scale in (
            ("0.weight", (CELLS, OBS + ACT), 0.5), ("0.bias", (CELLS,), 0.1),
            ("2.weight", (CELLS, CELLS), 0.125), ("2.bias", (CELLS,), 0.1),
            ("4.weight", (OBS, CELLS), 0.01), ("4.bias", (OBS,), 0.01))})
    theta = torch.rand(starts, generator=g) * 6.28 - 3.14
    obs = torch.stack([theta.cos(), theta.sin(), torch.randn(starts, generator=g)], -1)
    actions = torch.rand(starts, horizon, ACT, generator=g) * 4 - 2
    return members, obs, actions


def reward(obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Pendulum-v1's reward formula; [*B]. Every row applies it to the predicted next observation, as
    TorchRL's WorldModelWrapper does (its reward model reads the transition model's output)."""
    theta = torch.atan2(obs[..., 1], obs[..., 0])
    return -(theta**2 + 0.1 * obs[..., 2] ** 2 + 0.001 * action[..., 0] ** 2)


def frl_rows(starts: int, horizon: int) -> tuple[dict, float, float]:
    from tensordict import TensorDict

    import frl
    from frl import random as fr

    members, obs, actions = inputs(starts, horizon)
    # frl.nn.mlp's params have torch.nn.Sequential's layout: layers "0", "2", "4", each weight and bias.
    params = frl.tree.stack([TensorDict({layer: TensorDict(weight=m[f"{layer}.weight"], bias=m[f"{layer}.bias"])
                                         for layer in ("0", "2", "4")}) for m in members])
    net = frl.nn.mlp(OBS + ACT, OBS, num_cells=(CELLS, CELLS), activation="silu")
    model = frl.envs.ModelEnv(lambda p, s, a: s + net.apply(p, torch.cat([s, a], -1)),
                              lambda p, s, a, s2: reward(s2, a),
                              observation_spec=frl.envs.Unbounded((OBS,)),
                              action_spec=frl.envs.Bounded(-2.0, 2.0, (ACT,)), max_episode_steps=horizon)

    def policy(td):
        t = td.get("step_count").unsqueeze(-1)  # [B, 1, 1]: the action at this step of each sequence
        return td.copy().set("action", torch.take_along_dim(actions, t, dim=1).squeeze(1))

    def imagine(p, td):
        return frl.envs.rollout(model.bind(p), policy, td, horizon, auto_reset=False)

    def ensemble(params, td):
        return torch.vmap(imagine, in_dims=(0, None), randomness="error")(params, td)

    td = model.reset(fr.key(0), start=obs)
    steps = MODELS * starts * horizon
    rates = {}
    compiled = torch.compile(ensemble, fullgraph=True)
    compile_s = time_first_call(lambda: compiled(params, td))
    reference = ensemble(params, td)["next", "reward"]
    torch.testing.assert_close(compiled(params, td)["next", "reward"], reference, rtol=1e-4, atol=1e-4)
    loop = torch.stack([imagine(frl.tree.index(params, i), td)["next", "reward"] for i in range(MODELS)])
    torch.testing.assert_close(loop, reference, rtol=1e-5, atol=1e-5)
    rates["frl compiled, vmapped over the 5 models"] = steps / time_call(lambda: compiled(params, td), iters=10)
    frl.set_value_checks(False)
    torch.compiler.reset()
    unchecked = torch.compile(ensemble, fullgraph=True)
    unchecked(params, td)
    rates["frl compiled, vmapped, value checks off"] = steps / time_call(lambda: unchecked(params, td), iters=10)
    frl.set_value_checks(True)
    rates["frl eager, vmapped over the 5 models"] = steps / time_call(lambda: ensemble(params, td), warmup=1,
                                                                      iters=3, repeats=3)
    rates["eager Python loop over the 5 models"] = steps / time_call(
        lambda: [imagine(frl.tree.index(params, i), td) for i in range(MODELS)], warmup=1, iters=3, repeats=3)
    return rates, compile_s, float(reference.sum())


def torchrl_rows(starts: int, horizon: int) -> dict:
    """TorchRL's ModelBasedEnvBase over the same network, one member at a time (run in TorchRL's venv)."""
    from tensordict import TensorDict
    from tensordict.nn import TensorDictModule

    # TorchRL is installed only in FRL_TORCHRL_PYTHON's interpreter, where this function runs.
    from torchrl.data import Bounded, Composite, Unbounded  # pyright: ignore[reportMissingImports]
    from torchrl.envs.model_based import ModelBasedEnvBase  # pyright: ignore[reportMissingImports]
    from torchrl.modules import WorldModelWrapper  # pyright: ignore[reportMissingImports]

    members, obs, actions = inputs(starts, horizon)

    class Delta(torch.nn.Module):
        def __init__(self, state):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(OBS + ACT, CELLS), torch.nn.SiLU(),
                                           torch.nn.Linear(CELLS, CELLS), torch.nn.SiLU(),
                                           torch.nn.Linear(CELLS, OBS))
            self.net.load_state_dict(state)

        def forward(self, o, a):
            return o + self.net(torch.cat([o, a], -1))

    class Reward(torch.nn.Module):
        def forward(self, o, a):
            return reward(o, a).unsqueeze(-1)

    class PendulumModelEnv(ModelBasedEnvBase):
        def __init__(self, world_model):
            super().__init__(world_model, batch_size=torch.Size([starts]))
            self.observation_spec = Composite(observation=Unbounded((starts, OBS)), shape=(starts,))
            self.action_spec = Bounded(-2.0, 2.0, (starts, ACT))
            self.reward_spec = Unbounded((starts, 1))

        def _reset(self, tensordict):
            return tensordict.select("observation").copy()

    envs = [PendulumModelEnv(WorldModelWrapper(
        TensorDictModule(Delta(m), in_keys=["observation", "action"], out_keys=["observation"]),
        TensorDictModule(Reward(), in_keys=["observation", "action"], out_keys=["reward"])))
        for m in members]
    td0 = TensorDict(observation=obs, batch_size=[starts])

    class Policy:
        def __init__(self):
            self.t = 0

        def __call__(self, td):
            td.set("action", actions[:, self.t % horizon])
            self.t += 1
            return td

    def run():
        out = []
        for env in envs:
            out.append(env.rollout(horizon, Policy(), tensordict=td0.clone(), auto_reset=False,
                                   break_when_any_done=False))
        return out

    first = run()
    steps = MODELS * starts * horizon
    rate = steps / time_call(run, warmup=1, iters=3, repeats=3)
    return {"TorchRL ModelBasedEnvBase, Python loop over the 5 models": rate,
            "reward_sum": float(torch.stack([o["next", "reward"].sum() for o in first]).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=4096)
    parser.add_argument("--horizon", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--torchrl", action="store_true", help="run only TorchRL's rows and print JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.torchrl:
        emit(torchrl_rows(args.starts, args.horizon))
        return

    print(machine_line())
    print(f"imagination rollout: {MODELS} models x {args.starts} start states x {args.horizon} steps")
    rates, compile_s, reward_sum = frl_rows(args.starts, args.horizon)
    trl = run_comparator(os.path.abspath(__file__), ["--starts", str(args.starts), "--horizon", str(args.horizon),
                                                      "--threads", str(args.threads)])
    if trl is not None:
        # The same weights, starts and actions: both must predict the same rewards.
        trl_sum = trl.pop("reward_sum")
        print(f"sum of predicted rewards: frl {reward_sum:.6g}, TorchRL {trl_sum:.6g}")
        if abs(trl_sum - reward_sum) > 1e-3 * abs(reward_sum):
            raise SystemExit("frl and TorchRL disagree on the rollout: the comparison is void")
        rates.update(trl)
    best = rates["frl compiled, vmapped over the 5 models"]
    rows = [[name, f"{rate / 1e6:.3f}", f"{best / rate:.1f}x"] for name, rate in rates.items()]
    if trl is None:
        rows.append(["TorchRL ModelBasedEnvBase (not run: see the message above)", None, None])
    print_table(["implementation", "M model steps/s", "frl compiled is x faster"], rows)
    print(f"compile time (first call of frl compiled): {compile_s:.1f} s")


if __name__ == "__main__":
    main()
