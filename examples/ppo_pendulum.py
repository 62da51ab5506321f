"""PPO on Pendulum-v1: the pure-torch env, a Gaussian actor-critic, GAE, compiled and vmapped over seeds.

    python examples/ppo_pendulum.py                  # one agent
    python examples/ppo_pendulum.py --num-seeds 8    # 8 independent agents in one vmapped, compiled run

Every function below is pure: the whole training state (params, optimizer state, env state, key) is
passed in and returned, so `torch.func.vmap` turns one agent into an ensemble and `torch.compile`
fuses each piece. References: Schulman et al. (2017), "Proximal Policy Optimization Algorithms".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import tyro

import frl
from frl.train import RunReport


@dataclass
class Args:
    total_frames: int = 400_000
    """environment frames per seed"""
    num_envs: int = 64
    """parallel environments per seed"""
    rollout_len: int = 32
    """steps per environment between updates (frames per batch = num_envs * rollout_len)"""
    epochs: int = 10
    """passes over each batch"""
    minibatch_size: int = 512
    """transitions per gradient step"""
    lr: float = 1e-3
    """Adam learning rate, annealed linearly to 0"""
    gamma: float = 0.9
    """discount"""
    lmbda: float = 0.95
    """GAE lambda"""
    clip_epsilon: float = 0.2
    """PPO ratio clip"""
    entropy_coef: float = 0.0
    """entropy bonus weight"""
    max_grad_norm: float = 0.5
    """gradient clipping by global norm"""
    num_cells: int = 64
    """hidden units of the 2-layer actor and critic MLPs"""
    seed: int = 0
    """seed of the first agent; agent i uses seed + i"""
    num_seeds: int = 1
    """independent agents trained together (vmapped)"""
    compile: bool = True
    """torch.compile the rollout step, the advantages and the update"""
    out: str = "runs/ppo_pendulum"
    """folder for metrics.json and learning_curve.png"""


def make_agent(args: Args, env):
    obs_dim, act_dim = env.observation_spec.shape[-1], env.action_spec.shape[-1]
    actor = frl.nn.probabilistic_actor(
        frl.nn.mlp(obs_dim, 2 * act_dim, num_cells=(args.num_cells,) * 2, activation="tanh"),
        distribution="tanh_normal", action_low=env.action_spec.low, action_high=env.action_spec.high)
    critic = frl.nn.value_operator(frl.nn.mlp(obs_dim, 1, num_cells=(args.num_cells,) * 2, activation="tanh"))
    iterations = args.total_frames // (args.num_envs * args.rollout_len)
    steps = iterations * args.epochs * (args.num_envs * args.rollout_len // args.minibatch_size)
    optimizer = frl.optim.chain(frl.optim.clip_by_global_norm(args.max_grad_norm),
                                frl.optim.adam(frl.optim.linear_schedule(args.lr, 0.0, steps)))
    return actor, critic, optimizer


# --- the training step: everything below is pure and runs per seed under vmap -------------------
def make_train_step(args: Args, env, actor, critic, optimizer):
    update = frl.train.make_ppo_update(actor.get_dist, critic.apply, optimizer, clip_epsilon=args.clip_epsilon,
                                       entropy_coef=args.entropy_coef, normalize_advantage=True)

    def init(key):
        k_actor, k_critic, k_env = frl.random.split(key, 3)
        params = frl.tree.TensorDict(actor=actor.init(k_actor), critic=critic.init(k_critic))
        env_td = env.reset(k_env, (args.num_envs,))
        env_td["episode_return"] = torch.zeros(args.num_envs, 1)
        return params, optimizer.init(params), env_td

    def collect_step(params, env_td, key):
        """Act in every env, step, track the episode return, and reset finished episodes."""
        td = env.step(actor.apply(params["actor"], env_td, key))
        td["next", "episode_return"] = td["episode_return"] + td["next", "reward"]
        transition, env_td = frl.envs.auto_reset(env, td)
        env_td["episode_return"] = torch.where(td["next", "done"], 0.0, td["next", "episode_return"])
        return transition, env_td

    def advantages(params, rollout):
        """GAE over a [num_envs, T] rollout; bootstraps from ("next", "observation") at truncation."""
        value = critic.apply(params["critic"], rollout)["state_value"]
        next_value = critic.apply(params["critic"], rollout["next"])["state_value"]
        adv, target = frl.returns.gae(rollout["next", "reward"], value, next_value, rollout["next", "done"],
                                      rollout["next", "terminated"], gamma=args.gamma, lmbda=args.lmbda, time_dim=-2)
        return rollout.update({"advantage": adv, "value_target": target, "state_value": value})

    def minibatch_update(params, opt_state, data, index):
        return update(params, opt_state, data[index])

    return init, collect_step, advantages, minibatch_update


def train(args: Args) -> dict:
    env = frl.envs.make("Pendulum-v1")
    actor, critic, optimizer = make_agent(args, env)
    init, collect_step, advantages, minibatch_update = make_train_step(args, env, actor, critic, optimizer)
    # One vmap over seeds for every piece; then compile each (fullgraph: no graph breaks).
    jit = (lambda f: torch.compile(f, fullgraph=True)) if args.compile else (lambda f: f)
    collect_step, advantages, minibatch_update = (jit(torch.vmap(f)) for f in (collect_step, advantages, minibatch_update))
    keys = torch.stack([frl.random.key(args.seed + i) for i in range(args.num_seeds)])
    params, opt_state, env_td = torch.vmap(init)(keys)
    keys = torch.vmap(frl.random.fold_in, in_dims=(0, None))(keys, 1)

    frames_per_batch = args.num_envs * args.rollout_len
    num_minibatches = frames_per_batch // args.minibatch_size
    report = RunReport(args.total_frames, args.num_seeds, args.out, desc="PPO Pendulum-v1")
    for it in range(args.total_frames // frames_per_batch):
        step_keys = torch.vmap(lambda k: frl.random.split(fold_in_it(k, it), args.rollout_len + args.epochs))(keys)
        transitions = []
        for t in range(args.rollout_len):
            transition, env_td = collect_step(params, env_td, step_keys[:, t])
            transitions.append(transition)
        rollout = advantages(params, torch.stack(transitions, dim=-1))  # [seeds, num_envs, T]
        data = rollout.reshape(args.num_seeds, frames_per_batch)
        for epoch in range(args.epochs):
            perm = torch.vmap(lambda k: frl.random.permutation(k, frames_per_batch))(step_keys[:, args.rollout_len + epoch])
            for i in range(num_minibatches):
                index = perm[:, i * args.minibatch_size:(i + 1) * args.minibatch_size]
                params, opt_state, metrics = minibatch_update(params, opt_state, data, index)
        report.log((it + 1) * frames_per_batch, rollout["next", "episode_return"], rollout["next", "done"])
    return report.finish({"args": vars(args)})


def fold_in_it(key, it):
    return frl.random.fold_in(key, it)


if __name__ == "__main__":
    train(tyro.cli(Args))
