"""Soft Actor-Critic on Pendulum-v1: pure-torch env, learned temperature, compiled, vmapped over seeds.

    python examples/sac_pendulum.py                  # one agent
    python examples/sac_pendulum.py --num-seeds 4    # 4 independent agents, each with its own buffer

    python examples/sac_pendulum.py --help           # every setting

One step of the loop: COLLECT a step of every stateless env with the tanh-Gaussian policy (uniform
random actions before ``learning_starts``; finished episodes reset), STORE the transitions in the
uniform buffer, SAMPLE + UPDATE: a minibatch, one `frl.train.make_sac_update` step of
`frl.objectives.sac_loss` on the actor, the twin Q-ensemble and the temperature at once, and a
Polyak update of the target ensemble; LOG the finished episodes' returns every 200 steps. Each phase
is a pure function written for one agent (`build`); one `torch.vmap` makes them per-seed and
`frl.train.compile_step` compiles each whole. The buffers' storage is updated in place. Pendulum
never terminates; its 200-step episodes are truncated, and truncated transitions bootstrap.

References:
    Haarnoja et al., "Soft Actor-Critic Algorithms and Applications" (2018).
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
from frl.train import compile_step, make_sac_update, soft_update


@dataclass
class Args:
    total_frames: int = 20_000
    """environment frames per seed"""
    num_envs: int = 1
    """parallel environments per seed (frames per collect step; one gradient step per collect step)"""
    buffer_size: int = 100_000
    """replay capacity per seed"""
    batch_size: int = 256
    """transitions per gradient step"""
    learning_starts: int = 1_000
    """frames of uniform random actions before the first gradient step"""
    lr: float = 1e-3
    """Adam learning rate of the actor, the Q-networks and the temperature"""
    gamma: float = 0.99
    """discount"""
    tau: float = 0.005
    """Polyak rate of the target Q-networks"""
    alpha_init: float = 1.0
    """initial temperature (learned, towards the target entropy -1 of the 1-D action)"""
    num_cells: int = 256
    """hidden units of the 2-layer networks"""
    seed: int = 0
    """seed of the first agent; agent i uses seed + i"""
    num_seeds: int = 1
    """independent agents trained at once (vmapped), each with its own buffer"""
    threads: int = 1
    """torch CPU threads"""
    compile: bool = True
    """torch.compile the collect, store and train steps (fullgraph)"""
    out: str = "runs/sac_pendulum"
    """folder for metrics.json and learning_curve.png"""


class Agent(NamedTuple):
    """The example's pieces, built once from `Args`."""

    env: frl.envs.Env
    init: Callable  # one seed: key -> (params, target, opt_state, env_td, buf, run_key)
    v_collect: Callable  # per seed: (params, env_td, keys, step) -> (transitions, env_td, episode_return)
    v_store: Callable  # per seed: (buf, transitions) -> buf
    v_train: Callable  # per seed: (params, target, opt_state, buf, keys, step) -> (params, target, opt_state, metrics)


def build(args: Args) -> Agent:
    # ---- the pieces: env, actor, twin Q-networks, optimizer, buffer, the pure SAC update ----
    env = frl.envs.make("Pendulum-v1")
    spec = env.action_spec
    assert isinstance(spec, frl.envs.Bounded)  # a box of torques: the tanh-Gaussian maps onto it
    obs_dim, act_dim, low, high = env.observation_spec.shape[-1], spec.shape[-1], spec.low, spec.high
    cells = (args.num_cells,) * 2
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(obs_dim, 2 * act_dim, num_cells=cells, activation="relu"),
                                       action_low=low, action_high=high)
    qnet = frl.nn.q_value_operator(frl.nn.mlp(obs_dim + act_dim, 1, num_cells=cells, activation="relu"))
    # One Adam over actor, Q-ensemble and log-temperature: each loss term moves only its own part.
    optimizer = frl.optim.adam(args.lr)
    update = make_sac_update(actor.get_dist, qnet.apply, optimizer, gamma=args.gamma)
    buffer = frl.buffers.uniform(args.buffer_size)

    # ---- one agent, as pure functions of explicit state ----
    def init(key):
        k_actor, k_q, k_env, k_run = fr.split(key, 4)
        qvalue = frl.tree.stack([qnet.init(k) for k in fr.split(k_q, 2)])
        params = TensorDict(actor=actor.init(k_actor), qvalue=qvalue, log_alpha=torch.tensor(args.alpha_init).log())
        env_td = env.reset(k_env, (args.num_envs,))
        env_td.set("episode_return", torch.zeros(args.num_envs, 1))
        example = env.step(env_td.copy().set("action", spec.zero((args.num_envs,)))).select(*TRANSITION_KEYS)
        return params, qvalue.clone(), optimizer.init(params), env_td, buffer.init(example), k_run

    def collect(params, env_td, key, step):
        """A policy step of every env (uniform actions before learning_starts): transitions, next env
        state, the episode returns so far."""
        k_policy, k_random = fr.split(fr.fold_in(key, 2 * step))  # 2 * step + 1: train
        action = actor.apply(params["actor"], env_td, k_policy)["action"]
        uniform = low + (high - low) * fr.uniform(k_random, action.shape)
        action = torch.where(step * args.num_envs < args.learning_starts, uniform, action)
        td = env.step(env_td.copy().set("action", action))
        episode_return, running = frl.envs.track_episode_return(td, td["episode_return"])
        env_next = frl.envs.auto_reset(env, td).select(*env_td.keys()).set("episode_return", running)
        return td.select(*TRANSITION_KEYS), env_next, episode_return

    def train(params, target, opt_state, buf, key, step):
        """A uniform minibatch, one SAC step (actor, twin Q, temperature), Polyak update of the target Q."""
        k_sample, k_loss = fr.split(fr.fold_in(key, 2 * step + 1))
        batch, _ = buffer.sample(buf, k_sample, args.batch_size)
        params, opt_state, metrics, _ = update(params, target, opt_state, batch, k_loss)
        return params, soft_update(target, params["qvalue"], args.tau), opt_state, metrics

    # ---- per seed: vmapped over a leading seed dimension (the step shared), compiled whole ----
    def per_seed(f: Callable, in_dims: int | tuple[int | None, ...] = 0) -> Callable:
        return compile_step(torch.vmap(f, in_dims=in_dims), enabled=args.compile)

    return Agent(env, init, per_seed(collect, (0, 0, 0, None)), per_seed(buffer.add),
                 per_seed(train, (0, 0, 0, 0, 0, None)))


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    agent = build(args)
    keys = torch.stack([fr.key(args.seed + i) for i in range(args.num_seeds)])
    # Dense leaves from the first call on, so the compiled steps never recompile on a stride.
    *state, run_keys = torch.vmap(agent.init)(keys)
    params, target, opt_state, env_td, buf = frl.tree.dense(tuple(state))
    report = RunReport(args.total_frames, args.num_seeds, args.out, desc="SAC Pendulum-v1",
                       frames_per_iteration=args.num_envs)
    steps, returns, dones, metrics = args.total_frames // args.num_envs, [], [], None
    for step in range(steps):
        frames = (step + 1) * args.num_envs
        step_t = torch.tensor(step)  # a tensor, not an int: a changing Python int would recompile

        # COLLECT: one step of every env, finished (truncated) episodes reset
        transitions, env_td, episode_return = agent.v_collect(params, env_td, run_keys, step_t)

        # STORE: into each seed's buffer (updated in place)
        buf = agent.v_store(buf, transitions)

        # SAMPLE + UPDATE: one gradient step per collect step once learning starts
        if frames >= args.learning_starts:
            params, target, opt_state, metrics = agent.v_train(params, target, opt_state, buf, run_keys, step_t)

        # LOG: every 200 collect steps once training runs (keeps host syncs rare), first at the first
        # training step: the report's first-log time then covers compiling all three steps.
        returns.append(episode_return)
        dones.append(transitions["next", "done"])
        first_train = args.learning_starts <= frames < args.learning_starts + args.num_envs
        if (step % 200 == 199 and frames >= args.learning_starts) or first_train or step == steps - 1:
            report.log(frames, torch.stack(returns, 1), torch.stack(dones, 1))
            returns, dones = [], []
    last = {} if metrics is None else {k: v.mean().item() for k, v in metrics.items()}
    return report.finish({"args": asdict(args), "last_terms": last})


if __name__ == "__main__":
    main(tyro.cli(Args))
