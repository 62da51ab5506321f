"""TD3 on Pendulum-v1: pure-torch env, twin critics vmapped, delayed policy updates, compiled, vmapped over seeds.

    python examples/td3_pendulum.py                  # one agent
    python examples/td3_pendulum.py --num-seeds 4    # 4 independent agents, each with its own buffer

    python examples/td3_pendulum.py --help           # every setting

One step of the loop: COLLECT a Gaussian-noise step of every stateless env (uniform random actions
before ``learning_starts``; finished episodes reset), STORE the transitions in the uniform buffer,
SAMPLE + UPDATE: a minibatch and one `frl.train.make_td3_update` step of `frl.objectives.td3_loss`
(the critics stepped every call, the actor and the Polyak targets every ``policy_delay`` calls);
LOG the finished episodes' returns every 200 steps. Each phase is a pure function written for one
agent (`build`); one `torch.vmap` makes them per-seed and `frl.train.compile_step` compiles each
whole. The buffers' storage is updated in place.

References:
    Fujimoto et al., "Addressing Function Approximation Error in Actor-Critic Methods" (ICML 2018).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import tyro
from tensordict import TensorDict

import frl
from frl import random as fr
from frl.experiment import RunReport
from frl.objectives import TRANSITION_KEYS
from frl.train import compile_step, make_td3_update, soft_update


@dataclass
class Args:
    total_frames: int = 20_000
    """environment frames per seed"""
    num_envs: int = 1
    """parallel environments per seed (frames per collect step)"""
    updates_per_step: int = 1
    """gradient steps per collect step"""
    buffer_size: int = 100_000
    """replay capacity per seed"""
    batch_size: int = 256
    """transitions per gradient step"""
    learning_starts: int = 1_000
    """frames of uniformly random actions before the first gradient step"""
    lr: float = 1e-3
    """Adam learning rate of the actor and the critics"""
    gamma: float = 0.99
    """discount"""
    tau: float = 0.005
    """Polyak rate of the target networks"""
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
    seed: int = 0
    """seed of the first agent; agent i uses seed + i"""
    num_seeds: int = 1
    """independent agents trained at once (vmapped), each with its own buffer"""
    threads: int = 1
    """torch CPU threads"""
    compile: bool = True
    """torch.compile the collect, store and train steps (fullgraph)"""
    out: str = "runs/td3_pendulum"
    """folder for metrics.json and learning_curve.png"""


class Agent(NamedTuple):
    """The example's pieces, built once from `Args`."""

    env: frl.envs.Env
    init: Callable  # one seed: key -> (params, target, opt_state, env_td, buf, run_key)
    v_collect: Callable  # per seed: (params, env_td, keys, step, explore) -> (transitions, env_td, episode_return)
    v_store: Callable  # per seed: (buf, transitions) -> buf
    v_train: Callable  # per seed: (params, target, opt_state, buf, keys, update) -> (params, target, opt_state, buf,
    #                    metrics)


def build(args: Args) -> Agent:
    # ---- the pieces: env, deterministic actor, twin critics, optimizer, buffer, the pure TD3 update ----
    env = frl.envs.make("Pendulum-v1")
    spec = env.action_spec
    assert isinstance(spec, frl.envs.Bounded)  # a box of torques
    obs_dim, act_dim = env.observation_spec.shape[-1], spec.shape[-1]
    scale = float(torch.as_tensor(spec.high).max())  # Pendulum's bound is symmetric: [-2, 2]
    cells = (args.num_cells,) * 2
    actor = frl.nn.deterministic_actor(frl.nn.mlp(obs_dim, act_dim, cells, activation="relu"),
                                       action_low=spec.low, action_high=spec.high)
    critic = frl.nn.q_value_operator(frl.nn.mlp(obs_dim + act_dim, 1, cells, activation="relu"))
    optimizer = frl.optim.adam(args.lr)
    td3_update = make_td3_update(actor.apply, critic.apply, optimizer, gamma=args.gamma,
                                 policy_noise=args.policy_noise * scale, noise_clip=args.noise_clip * scale,
                                 action_spec=spec)
    buffer = frl.buffers.uniform(args.buffer_size)

    # ---- one agent, as pure functions of explicit state ----
    def init(key):
        k_actor, k_critic, k_env, k_run = fr.split(key, 4)
        params = TensorDict(actor=actor.init(k_actor), qvalue=torch.vmap(critic.init)(fr.split(k_critic, 2)))
        opt_state = {"actor": optimizer.init(params["actor"]), "qvalue": optimizer.init(params["qvalue"])}
        env_td = env.reset(k_env, (args.num_envs,))
        env_td.set("episode_return", torch.zeros(args.num_envs, 1))
        example = env.step(env_td.copy().set("action", spec.zero((args.num_envs,)))).select(*TRANSITION_KEYS)
        return params, params.clone(), opt_state, env_td, buffer.init(example), k_run

    def collect(params, env_td, key, step, explore):
        """A Gaussian-noise step of every env (uniform actions while exploring): transitions, next env
        state, the episode returns so far."""
        # Collect keys: fold_in(key, 0) then the step; train keys: fold_in(key, 1) then the update.
        k_noise, k_random = fr.split(fr.fold_in(fr.fold_in(key, 0), step))
        action = actor.apply(params["actor"], env_td)["action"]
        noisy = frl.nn.gaussian_noise(k_noise, action, args.exploration_noise * scale, spec.low, spec.high)
        # Before learning starts: uniform actions over the box (explore is a tensor: no recompile).
        action = torch.where(explore, spec.sample(k_random, (args.num_envs,)), noisy)
        td = env.step(env_td.copy().set("action", action))
        episode_return, running = frl.envs.track_episode_return(td, td["episode_return"])
        env_next = frl.envs.auto_reset(env, td).select(*env_td.keys()).set("episode_return", running)
        return td.select(*TRANSITION_KEYS), env_next, episode_return

    def train(params, target, opt_state, buf, key, update):
        """A uniform minibatch, one TD3 step; the actor and the Polyak targets every policy_delay steps."""
        k_sample, k_noise = fr.split(fr.fold_in(fr.fold_in(key, 1), update))
        batch, _ = buffer.sample(buf, k_sample, args.batch_size)
        # Delayed policy update: the critics move every step, the actor and the targets every
        # policy_delay steps (a tensor flag: one compiled step for both kinds of call).
        delayed = (update % args.policy_delay) == 0
        params, opt_state, metrics, _ = td3_update(params, target, opt_state, batch, k_noise, delayed)
        target = frl.tree.where(delayed, soft_update(target, params, args.tau), target)
        return params, target, opt_state, buf, metrics

    # ---- per seed: vmapped over a leading seed dimension (step and flags shared), compiled whole ----
    def per_seed(f: Callable, in_dims: int | tuple[int | None, ...] = 0) -> Callable:
        return compile_step(torch.vmap(f, in_dims=in_dims), enabled=args.compile)

    return Agent(env, init, per_seed(collect, (0, 0, 0, None, None)), per_seed(buffer.add),
                 per_seed(train, (0, 0, 0, 0, 0, None)))


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    agent = build(args)
    keys = torch.stack([fr.key(args.seed + i) for i in range(args.num_seeds)])
    # Dense leaves: the compiled steps then see one memory layout from the first call on.
    *state, run_keys = torch.vmap(agent.init)(keys)
    params, target, opt_state, env_td, buf = frl.tree.dense(tuple(state))
    report = RunReport(args.total_frames, args.num_seeds, args.out, desc="TD3 Pendulum-v1",
                       frames_per_iteration=args.num_envs)
    steps, returns, dones, updates = args.total_frames // args.num_envs, [], [], 0
    for step in range(steps):
        frames = (step + 1) * args.num_envs

        # COLLECT: one step of every env, finished (truncated) episodes reset
        explore = torch.tensor(frames <= args.learning_starts)
        transitions, env_td, episode_return = agent.v_collect(params, env_td, run_keys, torch.tensor(step), explore)

        # STORE: into each seed's buffer (updated in place)
        buf = agent.v_store(buf, transitions)

        # SAMPLE + UPDATE: updates_per_step gradient steps per collect step once learning starts
        if frames >= args.learning_starts:
            for _ in range(args.updates_per_step):
                params, target, opt_state, buf, metrics = agent.v_train(params, target, opt_state, buf, run_keys,
                                                                        torch.tensor(updates))
                updates += 1

        # LOG: every 200 collect steps (Pendulum's episodes are 200 steps): few host syncs
        returns.append(episode_return)
        dones.append(transitions["next", "done"])
        if step % 200 == 199 or step == steps - 1:
            report.log(frames, torch.stack(returns, 1), torch.stack(dones, 1))
            returns, dones = [], []
    return report.finish({"args": asdict(args)})


if __name__ == "__main__":
    main(tyro.cli(Args))
