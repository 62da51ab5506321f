"""Double DQN with prioritized replay on CartPole-v1: pure-torch env, compiled, vmapped over seeds.

    python examples/dqn_cartpole.py                  # one agent
    python examples/dqn_cartpole.py --num-seeds 4    # 4 independent agents, each with its own buffer

Two compiled pure functions, each vmapped over seeds: `collect` (epsilon-greedy step of every env,
with auto-reset) and `train` (sample from the prioritized buffer, a double-DQN gradient step, new
priorities, Polyak target update). The buffers' storage and sum trees are updated in place.
bench/dqn_train.py times the pieces that `build` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import tyro

import frl
from frl.train import TRANSITION_KEYS, OffPolicyArgs, RunReport, make_dqn_update, soft_update


@dataclass
class Args(OffPolicyArgs):
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
    cpp_wrapper: bool = False
    """inductor's C++ wrapper: ~10% less time per step, ~15% more compile time (pays off past ~1M frames)"""
    out: str = "runs/dqn_cartpole"
    """folder for metrics.json and learning_curve.png"""


class Agent(NamedTuple):
    """The example's pieces, built once from `Args` (bench/dqn_train.py times them one by one)."""

    env: object
    qnet: object
    optimizer: object
    buffer: object
    update: Callable
    collect: Callable  # one seed: (params, env_td, key, step, epsilon) -> (transitions, env_td, episode_return)
    train: Callable  # one seed: (params, target, opt_state, buf, key, step) -> (params, target, opt_state, buf, metrics)
    collect_seeds: Callable  # the same, vmapped over seeds (compiled when args.compile)
    add_seeds: Callable
    train_seeds: Callable
    init_seeds: Callable  # keys [S, 2] -> (params, target, opt_state, env_td, buf, run_keys), dense


def build(args: Args) -> Agent:
    env = frl.envs.make("CartPole-v1")
    qnet = frl.nn.q_value_actor(frl.nn.mlp(env.observation_spec.shape[-1], env.action_spec.n,
                                           num_cells=(args.num_cells,) * 2, activation="relu"))
    optimizer = frl.optim.adam(args.lr)
    buffer = frl.buffers.prioritized(args.buffer_size, alpha=args.alpha, beta=args.beta)
    update = make_dqn_update(qnet.apply, optimizer, gamma=args.gamma, double_dqn=True)

    def init(key):
        k_net, k_env, k_run = frl.random.split(key, 3)
        params = qnet.init(k_net)
        env_td = env.reset(k_env, (args.num_envs,))
        env_td.set("episode_return", torch.zeros(args.num_envs, 1))
        example = env.step(env_td.copy().set("action", env.action_spec.zero((args.num_envs,)))).select(*TRANSITION_KEYS)
        return params, params.clone(), optimizer.init(params), env_td, buffer.init(example), k_run

    def collect(params, env_td, key, step, epsilon):
        key = frl.random.fold_in(key, 2 * step)  # step's keys: 2 * step here, 2 * step + 1 in train
        q = qnet.apply(params, env_td)["action_value"]
        td = env.step(env_td.copy().set("action", frl.nn.epsilon_greedy(key, q, epsilon)))
        episode_return = td["episode_return"] + td["next", "reward"]
        env_next = frl.envs.auto_reset(env, td).select(*env_td.keys())
        env_next.set("episode_return", torch.where(td["next", "done"], 0.0, episode_return))
        return td.select(*TRANSITION_KEYS), env_next, episode_return

    def train(params, target, opt_state, buf, key, step):
        batch, info = buffer.sample(buf, frl.random.fold_in(key, 2 * step + 1), args.batch_size)
        params, opt_state, metrics, td_error = update(params, target, opt_state, batch, info["weight"])
        buf = buffer.update_priorities(buf, info["index"], td_error)
        return params, soft_update(target, params, args.tau), opt_state, buf, metrics

    # One function per piece, vmapped over seeds inside (own code object: own compile cache).
    def collect_seeds(params, env_td, keys, step, epsilon):
        return torch.vmap(collect, in_dims=(0, 0, 0, None, None))(params, env_td, keys, step, epsilon)

    def add_seeds(buf, transitions):
        return torch.vmap(buffer.add)(buf, transitions)

    def train_seeds(params, target, opt_state, buf, keys, step):
        return torch.vmap(train, in_dims=(0, 0, 0, 0, 0, None))(params, target, opt_state, buf, keys, step)

    def init_seeds(keys):
        params, target, opt_state, env_td, buf, run_keys = torch.vmap(init)(keys)
        # vmap returns broadcast (stride-0) leaves for some fields; make all dense, so the compiled
        # steps see one memory layout from the first call on and never recompile.
        return (*frl.tree.dense((params, target, opt_state, env_td, buf)), run_keys)

    # torch.compile(fullgraph=True), unguarded on module globals (see OffPolicyArgs.jit).
    jit = args.jit(cpp_wrapper=True) if args.cpp_wrapper else args.jit()
    return Agent(env, qnet, optimizer, buffer, update, collect, train, jit(collect_seeds), jit(add_seeds),
                 jit(train_seeds), init_seeds)


def epsilon_at(args: Args, frames: int) -> torch.Tensor:
    """The exploration probability after ``frames`` frames: linear decay, then constant."""
    return torch.tensor(max(args.eps_end, args.eps_start - (args.eps_start - args.eps_end) * frames
                            / (args.eps_fraction * args.total_frames)))


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    agent = build(args)
    keys = torch.stack([frl.random.key(args.seed + i) for i in range(args.num_seeds)])
    params, target, opt_state, env_td, buf, run_keys = agent.init_seeds(keys)
    report = RunReport(args.total_frames, args.num_seeds, args.out, desc="DQN CartPole-v1")
    steps, returns, dones = args.total_frames // args.num_envs, [], []
    for step in range(steps):
        frames = (step + 1) * args.num_envs
        epsilon = epsilon_at(args, frames)
        step_t = torch.tensor(step)  # a tensor, not an int: a changing Python int would recompile
        transitions, env_td, episode_return = agent.collect_seeds(params, env_td, run_keys, step_t, epsilon)
        buf = agent.add_seeds(buf, transitions)
        if frames >= args.learning_starts:
            params, target, opt_state, buf, metrics = agent.train_seeds(params, target, opt_state, buf, run_keys,
                                                                        step_t)
        returns.append(episode_return)
        dones.append(transitions["next", "done"])
        # Report every 32 collect steps once training runs (keeps host syncs rare), first at the first
        # training step: the report's first-log time then covers compiling all three steps.
        first_train = args.learning_starts <= frames < args.learning_starts + args.num_envs
        if (step % 32 == 31 and frames >= args.learning_starts) or first_train or step == steps - 1:
            report.log(frames, torch.stack(returns, 1), torch.stack(dones, 1))
            returns, dones = [], []
    return report.finish({"args": asdict(args)})


if __name__ == "__main__":
    main(tyro.cli(Args))
