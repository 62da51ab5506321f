"""Soft Actor-Critic on Pendulum-v1: pure-torch env, learned temperature, compiled, vmapped over seeds.

    python examples/sac_pendulum.py                  # one agent
    python examples/sac_pendulum.py --num-seeds 4    # 4 independent agents, each with its own buffer

Two compiled pure functions, each vmapped over seeds: `collect` (one step of every env with the
tanh-Gaussian policy, uniform random actions before `learning_starts`, with auto-reset) and `train`
(sample a uniform minibatch, one `frl.train.make_sac_update` step of `frl.objectives.sac_loss` on
the actor, the twin Q-ensemble and the temperature at once, Polyak update of the target ensemble).
The buffers' storage is updated in place. Pendulum never terminates; its 200-step episodes are truncated, and
truncated transitions bootstrap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import tyro
from tensordict import TensorDict

import frl
from frl.train import TRANSITION_KEYS, OffPolicyArgs, RunReport, make_sac_update, soft_update


@dataclass
class Args(OffPolicyArgs):
    total_frames: int = 20_000
    """environment frames per seed"""
    num_envs: int = 1
    """parallel environments per seed (frames per collect step; one gradient step per collect step)"""
    learning_starts: int = 1_000
    """frames of uniform random actions before the first gradient step"""
    lr: float = 1e-3
    """Adam learning rate of the actor, the Q-networks and the temperature"""
    alpha_init: float = 1.0
    """initial temperature (learned, towards the target entropy -1 of the 1-D action)"""
    out: str = "runs/sac_pendulum"
    """folder for metrics.json and learning_curve.png"""


class Agent(NamedTuple):
    """The example's pieces, built once from `Args`."""

    env: object
    actor: object
    qnet: object
    optimizer: object
    buffer: object
    collect: Callable  # one seed: (params, env_td, key, step) -> (transitions, env_td, episode_return)
    train: Callable  # one seed: (params, target, opt_state, buf, key, step) -> (params, target, opt_state, metrics)
    collect_seeds: Callable  # the same, vmapped over seeds (compiled when args.compile)
    add_seeds: Callable
    train_seeds: Callable
    init_seeds: Callable  # keys [S, 2] -> (params, target, opt_state, env_td, buf, run_keys), dense


def build(args: Args) -> Agent:
    env = frl.envs.make("Pendulum-v1")
    obs_dim, act_dim = env.observation_spec.shape[-1], env.action_spec.shape[-1]
    low, high = env.action_spec.low, env.action_spec.high
    cells = (args.num_cells,) * 2
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(obs_dim, 2 * act_dim, num_cells=cells, activation="relu"),
                                       action_low=low, action_high=high)
    qnet = frl.nn.q_value_operator(frl.nn.mlp(obs_dim + act_dim, 1, num_cells=cells, activation="relu"))
    # One Adam over actor, Q-ensemble and log-temperature: each loss term moves only its own part.
    optimizer = frl.optim.adam(args.lr)
    update = make_sac_update(actor.get_dist, qnet.apply, optimizer, gamma=args.gamma)
    buffer = frl.buffers.uniform(args.buffer_size)

    def init(key):
        k_actor, k_q, k_env, k_run = frl.random.split(key, 4)
        qvalue = frl.tree.stack([qnet.init(k) for k in frl.random.split(k_q, 2)])
        params = TensorDict(actor=actor.init(k_actor), qvalue=qvalue,
                            log_alpha=torch.tensor(args.alpha_init).log())
        env_td = env.reset(k_env, (args.num_envs,))
        env_td.set("episode_return", torch.zeros(args.num_envs, 1))
        example = env.step(env_td.copy().set("action", env.action_spec.zero((args.num_envs,)))).select(*TRANSITION_KEYS)
        return params, qvalue.clone(), optimizer.init(params), env_td, buffer.init(example), k_run

    def collect(params, env_td, key, step):
        k_policy, k_random = frl.random.split(frl.random.fold_in(key, 2 * step))  # 2 * step + 1: train
        action = actor.apply(params["actor"], env_td, k_policy)["action"]
        uniform = low + (high - low) * frl.random.uniform(k_random, action.shape)
        action = torch.where(step * args.num_envs < args.learning_starts, uniform, action)
        td = env.step(env_td.copy().set("action", action))
        episode_return = td["episode_return"] + td["next", "reward"]
        env_next = frl.envs.auto_reset(env, td).select(*env_td.keys())
        env_next.set("episode_return", torch.where(td["next", "done"], 0.0, episode_return))
        return td.select(*TRANSITION_KEYS), env_next, episode_return

    def train(params, target, opt_state, buf, key, step):
        k_sample, k_loss = frl.random.split(frl.random.fold_in(key, 2 * step + 1))
        batch, _ = buffer.sample(buf, k_sample, args.batch_size)
        params, opt_state, metrics, _ = update(params, target, opt_state, batch, k_loss)
        return params, soft_update(target, params["qvalue"], args.tau), opt_state, metrics

    def collect_seeds(params, env_td, keys, step):
        return torch.vmap(collect, in_dims=(0, 0, 0, None))(params, env_td, keys, step)

    def add_seeds(buf, transitions):
        return torch.vmap(buffer.add)(buf, transitions)

    def train_seeds(params, target, opt_state, buf, keys, step):
        return torch.vmap(train, in_dims=(0, 0, 0, 0, 0, None))(params, target, opt_state, buf, keys, step)

    def init_seeds(keys):
        params, target, opt_state, env_td, buf, run_keys = torch.vmap(init)(keys)
        # Dense leaves from the first call on, so the compiled steps never recompile on a stride.
        return (*frl.tree.dense((params, target, opt_state, env_td, buf)), run_keys)

    jit = args.jit()  # torch.compile(fullgraph=True), unguarded on module globals (see OffPolicyArgs.jit)
    return Agent(env, actor, qnet, optimizer, buffer, collect, train, jit(collect_seeds), jit(add_seeds),
                 jit(train_seeds), init_seeds)


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    agent = build(args)
    keys = torch.stack([frl.random.key(args.seed + i) for i in range(args.num_seeds)])
    params, target, opt_state, env_td, buf, run_keys = agent.init_seeds(keys)
    report = RunReport(args.total_frames, args.num_seeds, args.out, desc="SAC Pendulum-v1")
    steps, returns, dones, metrics = args.total_frames // args.num_envs, [], [], None
    for step in range(steps):
        frames = (step + 1) * args.num_envs
        step_t = torch.tensor(step)  # a tensor, not an int: a changing Python int would recompile
        transitions, env_td, episode_return = agent.collect_seeds(params, env_td, run_keys, step_t)
        buf = agent.add_seeds(buf, transitions)
        if frames >= args.learning_starts:
            params, target, opt_state, metrics = agent.train_seeds(params, target, opt_state, buf, run_keys, step_t)
        returns.append(episode_return)
        dones.append(transitions["next", "done"])
        # Report every 200 collect steps once training runs (keeps host syncs rare), first at the first
        # training step: the report's first-log time then covers compiling all three steps.
        first_train = args.learning_starts <= frames < args.learning_starts + args.num_envs
        if (step % 200 == 199 and frames >= args.learning_starts) or first_train or step == steps - 1:
            report.log(frames, torch.stack(returns, 1), torch.stack(dones, 1))
            returns, dones = [], []
    last = {} if metrics is None else {k: v.mean().item() for k, v in metrics.items()}
    return report.finish({"args": asdict(args), "last_terms": last})


if __name__ == "__main__":
    main(tyro.cli(Args))
