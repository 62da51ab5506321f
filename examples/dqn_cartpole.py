"""Double DQN with prioritized replay on CartPole-v1: pure-torch env, compiled, vmapped over seeds.

    python examples/dqn_cartpole.py                  # one agent
    python examples/dqn_cartpole.py --num-seeds 4    # 4 independent agents, each with its own buffer

    python examples/dqn_cartpole.py --help           # every setting

One step of the loop: COLLECT an epsilon-greedy step of every stateless env (finished episodes reset
from each env's own key), STORE the transitions in the prioritized buffer, SAMPLE + UPDATE: a
prioritized minibatch, one `frl.train.make_dqn_update` step of double DQN weighted by importance
sampling, new priorities from the TD errors and a Polyak update of the target network; LOG the
finished episodes' returns every 32 steps. Each phase is a pure function written for one agent
(`build`); one `torch.vmap` makes them per-seed and `frl.train.compile_step` compiles each whole.
The buffers' storage and sum trees are updated in place. bench/dqn_train.py times the pieces that
`build` returns.

References:
    Mnih et al., "Human-level control through deep reinforcement learning" (Nature, 2015); van Hasselt
    et al., "Deep Reinforcement Learning with Double Q-learning" (AAAI 2016); Schaul et al.,
    "Prioritized Experience Replay" (ICLR 2016).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
import tyro

import frl
from frl import random as fr
from frl.experiment import RunReport
from frl.objectives import TRANSITION_KEYS
from frl.train import compile_step, make_dqn_update, soft_update


@dataclass
class Args:
    total_frames: int = 100_000
    """environment frames per seed"""
    num_envs: int = 8
    """parallel environments per seed (frames per collect step)"""
    buffer_size: int = 50_000
    """replay capacity per seed"""
    batch_size: int = 128
    """transitions per gradient step"""
    learning_starts: int = 2_000
    """frames collected before the first gradient step"""
    lr: float = 1e-3
    """Adam learning rate"""
    gamma: float = 0.99
    """discount"""
    tau: float = 0.01
    """Polyak rate of the target network"""
    eps_start: float = 1.0
    """initial exploration probability"""
    eps_end: float = 0.02
    """final exploration probability"""
    eps_fraction: float = 0.3
    """fraction of the run over which epsilon decays linearly"""
    alpha: float = 0.6
    """prioritization exponent"""
    beta: float = 0.4
    """importance-sampling exponent"""
    num_cells: int = 128
    """hidden units of the 2-layer Q-network"""
    seed: int = 0
    """seed of the first agent; agent i uses seed + i"""
    num_seeds: int = 1
    """independent agents trained at once (vmapped), each with its own buffer"""
    threads: int = 1
    """torch CPU threads"""
    compile: bool = True
    """torch.compile the collect, store and train steps (fullgraph)"""
    cpp_wrapper: bool = False
    """inductor's C++ wrapper: ~10% less time per step, ~15% more compile time (pays off past ~1M frames)"""
    out: str = "runs/dqn_cartpole"
    """folder for metrics.json and learning_curve.png"""


class Agent(NamedTuple):
    """The example's pieces, built once from `Args` (bench/dqn_train.py times them one by one)."""

    env: frl.envs.Env
    qnet: Any
    optimizer: frl.optim.GradientTransformation
    buffer: Any
    update: Callable  # make_dqn_update's pure step (one seed)
    init: Callable  # one seed: key -> (params, target, opt_state, env_td, buf, run_key)
    collect: Callable  # one seed: (params, env_td, key, step, epsilon) -> (transitions, env_td, episode_return)
    store: Callable  # one seed: (buf, transitions) -> buf
    train: Callable  # one seed: (params, target, opt_state, buf, key, step) -> (params, target, opt_state, buf,
    #                  metrics)
    v_collect: Callable  # the same three, vmapped over a leading seed dimension and compiled
    v_store: Callable
    v_train: Callable


def build(args: Args) -> Agent:
    # ---- the pieces: env, Q-network, optimizer, prioritized buffer, the pure double-DQN update ----
    env = frl.envs.make("CartPole-v1")
    spec = env.action_spec
    assert isinstance(spec, frl.envs.Categorical)  # push left or right: one Q-value per action
    qnet = frl.nn.q_value_actor(frl.nn.mlp(env.observation_spec.shape[-1], spec.n,
                                           num_cells=(args.num_cells,) * 2, activation="relu"))
    optimizer = frl.optim.adam(args.lr)
    buffer = frl.buffers.prioritized(args.buffer_size, alpha=args.alpha, beta=args.beta)
    update = make_dqn_update(qnet.apply, optimizer, gamma=args.gamma, double_dqn=True)

    # ---- one agent, as pure functions of explicit state ----
    def init(key):
        k_net, k_env, k_run = fr.split(key, 3)
        params = qnet.init(k_net)
        env_td = env.reset(k_env, (args.num_envs,))
        env_td.set("episode_return", torch.zeros(args.num_envs, 1))
        example = env.step(env_td.copy().set("action", spec.zero((args.num_envs,)))).select(*TRANSITION_KEYS)
        return params, params.clone(), optimizer.init(params), env_td, buffer.init(example), k_run

    def collect(params, env_td, key, step, epsilon):
        """Epsilon-greedy step of every env: transitions, the next env state, the episode returns so far."""
        key = fr.fold_in(key, 2 * step)  # step's keys: 2 * step here, 2 * step + 1 in train
        q = qnet.apply(params, env_td)["action_value"]
        td = env.step(env_td.copy().set("action", frl.nn.epsilon_greedy(key, q, epsilon)))
        episode_return, running = frl.envs.track_episode_return(td, td["episode_return"])
        env_next = frl.envs.auto_reset(env, td).select(*env_td.keys()).set("episode_return", running)
        return td.select(*TRANSITION_KEYS), env_next, episode_return

    def train(params, target, opt_state, buf, key, step):
        """Prioritized sample, double-DQN step, new priorities from the TD errors, Polyak target update."""
        batch, info = buffer.sample(buf, fr.fold_in(key, 2 * step + 1), args.batch_size)
        params, opt_state, metrics, td_error = update(params, target, opt_state, batch, info["weight"])
        buf = buffer.update_priorities(buf, info["index"], td_error)
        return params, soft_update(target, params, args.tau), opt_state, buf, metrics

    # ---- per seed: vmapped over a leading seed dimension (step and epsilon shared), compiled whole ----
    def per_seed(f: Callable, in_dims: int | tuple[int | None, ...] = 0) -> Callable:
        return compile_step(torch.vmap(f, in_dims=in_dims), enabled=args.compile,
                            **({"cpp_wrapper": True} if args.cpp_wrapper else {}))

    return Agent(env, qnet, optimizer, buffer, update, init, collect, buffer.add, train,
                 per_seed(collect, (0, 0, 0, None, None)), per_seed(buffer.add), per_seed(train, (0, 0, 0, 0, 0, None)))


def epsilon_at(args: Args, frames: int) -> torch.Tensor:
    """The exploration probability after ``frames`` frames: linear decay, then constant."""
    return frl.nn.linear_schedule(args.eps_start, args.eps_end,
                                  max(1, round(args.eps_fraction * args.total_frames)))(frames)


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    agent = build(args)
    keys = torch.stack([fr.key(args.seed + i) for i in range(args.num_seeds)])
    # vmap returns broadcast (stride-0) leaves for some fields; dense ones from the start, so the
    # compiled steps see one memory layout from the first call on and never recompile.
    *state, run_keys = torch.vmap(agent.init)(keys)
    params, target, opt_state, env_td, buf = frl.tree.dense(tuple(state))
    report = RunReport(args.total_frames, args.num_seeds, args.out, desc="DQN CartPole-v1",
                       frames_per_iteration=args.num_envs)
    steps, returns, dones = args.total_frames // args.num_envs, [], []
    for step in range(steps):
        frames = (step + 1) * args.num_envs
        step_t = torch.tensor(step)  # a tensor, not an int: a changing Python int would recompile

        # COLLECT: one epsilon-greedy step of every env, finished episodes reset
        transitions, env_td, episode_return = agent.v_collect(params, env_td, run_keys, step_t,
                                                              epsilon_at(args, frames))

        # STORE: into each seed's prioritized buffer (updated in place)
        buf = agent.v_store(buf, transitions)

        # SAMPLE + UPDATE: one gradient step per collect step once the buffer holds learning_starts frames
        if frames >= args.learning_starts:
            params, target, opt_state, buf, metrics = agent.v_train(params, target, opt_state, buf, run_keys, step_t)

        # LOG: every 32 collect steps once training runs (keeps host syncs rare), first at the first
        # training step: the report's first-log time then covers compiling all three steps.
        returns.append(episode_return)
        dones.append(transitions["next", "done"])
        first_train = args.learning_starts <= frames < args.learning_starts + args.num_envs
        if (step % 32 == 31 and frames >= args.learning_starts) or first_train or step == steps - 1:
            report.log(frames, torch.stack(returns, 1), torch.stack(dones, 1))
            returns, dones = [], []
    return report.finish({"args": asdict(args)})


if __name__ == "__main__":
    main(tyro.cli(Args))
