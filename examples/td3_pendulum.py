"""TD3 on Pendulum-v1: pure-torch env, twin critics vmapped, delayed policy updates, compiled, vmapped over seeds.

    python examples/td3_pendulum.py                  # one agent
    python examples/td3_pendulum.py --num-seeds 4    # 4 independent agents, each with its own buffer

Two compiled pure functions, each vmapped over seeds: `collect` (a Gaussian-noise step of every env,
random actions before learning starts, with auto-reset) and `train` (uniform replay sample, one
`frl.train.make_td3_update` step of `frl.objectives.td3_loss`, the critics stepped every call, the
actor and the Polyak targets every `policy_delay` calls). The buffers' storage is updated in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import tyro
from tensordict import TensorDict

import frl
from frl.train import TRANSITION_KEYS, OffPolicyArgs, RunReport, make_td3_update, soft_update


@dataclass
class Args(OffPolicyArgs):
    total_frames: int = 20_000
    """environment frames per seed"""
    num_envs: int = 1
    """parallel environments per seed (frames per collect step)"""
    updates_per_step: int = 1
    """gradient steps per collect step"""
    learning_starts: int = 1_000
    """frames of uniformly random actions before the first gradient step"""
    lr: float = 1e-3
    """Adam learning rate of the actor and the critics"""
    exploration_noise: float = 0.1
    """std of the Gaussian exploration noise, as a fraction of the action bound"""
    policy_noise: float = 0.2
    """std of the target-smoothing noise, as a fraction of the action bound"""
    noise_clip: float = 0.5
    """clip of the target-smoothing noise, as a fraction of the action bound"""
    policy_delay: int = 2
    """the actor and the targets are stepped every policy_delay gradient steps"""
    num_cells: int = 256
    """hidden units of the 2-layer actor and critics"""
    out: str = "runs/td3_pendulum"
    """folder for metrics.json and learning_curve.png"""


class Agent(NamedTuple):
    """The example's pieces, built once from `Args`."""

    env: object
    actor: object
    critic: object
    collect_seeds: Callable  # (params, env_td, keys, step, explore) -> (transitions, env_td, episode_return)
    add_seeds: Callable
    train_seeds: Callable  # (params, target, opt_state, buf, keys, update) -> (params, target, opt_state, buf, metrics)
    init_seeds: Callable  # keys [S, 2] -> (params, target, opt_state, env_td, buf, run_keys), dense


def build(args: Args) -> Agent:
    env = frl.envs.make("Pendulum-v1")
    spec = env.action_spec
    obs_dim, act_dim = env.observation_spec.shape[-1], spec.shape[-1]
    scale = float(spec.high.max())  # Pendulum's bound is symmetric: [-2, 2]
    cells = (args.num_cells,) * 2
    actor = frl.nn.deterministic_actor(frl.nn.mlp(obs_dim, act_dim, cells, activation="relu"),
                                       action_low=spec.low, action_high=spec.high)
    critic = frl.nn.q_value_operator(frl.nn.mlp(obs_dim + act_dim, 1, cells, activation="relu"))
    optimizer = frl.optim.adam(args.lr)
    td3_update = make_td3_update(actor.apply, critic.apply, optimizer, gamma=args.gamma,
                                 policy_noise=args.policy_noise * scale, noise_clip=args.noise_clip * scale,
                                 action_spec=spec)
    buffer = frl.buffers.uniform(args.buffer_size)

    def init(key):
        k_actor, k_critic, k_env, k_run = frl.random.split(key, 4)
        params = TensorDict(actor=actor.init(k_actor), qvalue=torch.vmap(critic.init)(frl.random.split(k_critic, 2)))
        opt_state = {"actor": optimizer.init(params["actor"]), "qvalue": optimizer.init(params["qvalue"])}
        env_td = env.reset(k_env, (args.num_envs,))
        env_td.set("episode_return", torch.zeros(args.num_envs, 1))
        example = env.step(env_td.copy().set("action", spec.zero((args.num_envs,)))).select(*TRANSITION_KEYS)
        return params, params.clone(), opt_state, env_td, buffer.init(example), k_run

    def collect(params, env_td, key, step, explore):
        # Collect keys: fold_in(key, 0) then the step; train keys: fold_in(key, 1) then the update.
        k_noise, k_random = frl.random.split(frl.random.fold_in(frl.random.fold_in(key, 0), step))
        action = actor.apply(params["actor"], env_td)["action"]
        noisy = frl.nn.gaussian_noise(k_noise, action, args.exploration_noise * scale, spec.low, spec.high)
        # Before learning starts: uniform actions over the box (explore is a tensor: no recompile).
        action = torch.where(explore, spec.sample(k_random, (args.num_envs,)), noisy)
        td = env.step(env_td.copy().set("action", action))
        episode_return = td["episode_return"] + td["next", "reward"]
        env_next = frl.envs.auto_reset(env, td).select(*env_td.keys())
        env_next.set("episode_return", torch.where(td["next", "done"], 0.0, episode_return))
        return td.select(*TRANSITION_KEYS), env_next, episode_return

    def train(params, target, opt_state, buf, key, update):
        k_sample, k_noise = frl.random.split(frl.random.fold_in(frl.random.fold_in(key, 1), update))
        batch, _ = buffer.sample(buf, k_sample, args.batch_size)
        # Delayed policy update: the critics move every step, the actor and the targets every
        # policy_delay steps (a tensor flag: one compiled step for both kinds of call).
        delayed = (update % args.policy_delay) == 0
        params, opt_state, metrics, _ = td3_update(params, target, opt_state, batch, k_noise, delayed)
        target = frl.tree.where(delayed, soft_update(target, params, args.tau), target)
        return params, target, opt_state, buf, metrics

    def collect_seeds(params, env_td, keys, step, explore):
        return torch.vmap(collect, in_dims=(0, 0, 0, None, None))(params, env_td, keys, step, explore)

    def add_seeds(buf, transitions):
        return torch.vmap(buffer.add)(buf, transitions)

    def train_seeds(params, target, opt_state, buf, keys, update):
        return torch.vmap(train, in_dims=(0, 0, 0, 0, 0, None))(params, target, opt_state, buf, keys, update)

    def init_seeds(keys):
        # Dense leaves: the compiled steps then see one memory layout from the first call on.
        params, target, opt_state, env_td, buf, run_keys = torch.vmap(init)(keys)
        return (*frl.tree.dense((params, target, opt_state, env_td, buf)), run_keys)

    jit = args.jit()  # torch.compile(fullgraph=True), unguarded on module globals (see OffPolicyArgs.jit)
    return Agent(env, actor, critic, jit(collect_seeds), jit(add_seeds), jit(train_seeds), init_seeds)


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    agent = build(args)
    keys = torch.stack([frl.random.key(args.seed + i) for i in range(args.num_seeds)])
    params, target, opt_state, env_td, buf, run_keys = agent.init_seeds(keys)
    report = RunReport(args.total_frames, args.num_seeds, args.out, desc="TD3 Pendulum-v1")
    steps, returns, dones, updates = args.total_frames // args.num_envs, [], [], 0
    for step in range(steps):
        frames = (step + 1) * args.num_envs
        explore = torch.tensor(frames <= args.learning_starts)
        transitions, env_td, episode_return = agent.collect_seeds(params, env_td, run_keys, torch.tensor(step),
                                                                  explore)
        buf = agent.add_seeds(buf, transitions)
        if frames >= args.learning_starts:
            for _ in range(args.updates_per_step):
                params, target, opt_state, buf, metrics = agent.train_seeds(params, target, opt_state, buf, run_keys,
                                                                            torch.tensor(updates))
                updates += 1
        returns.append(episode_return)
        dones.append(transitions["next", "done"])
        if step % 200 == 199 or step == steps - 1:  # Pendulum's episodes are 200 steps: few host syncs
            report.log(frames, torch.stack(returns, 1), torch.stack(dones, 1))
            returns, dones = [], []
    return report.finish({"args": asdict(args)})


if __name__ == "__main__":
    main(tyro.cli(Args))
