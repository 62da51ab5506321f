"""PPO on Pendulum-v1: the pure-torch env, a tanh-Gaussian actor-critic, GAE; compiled, vmapped over seeds.

    python examples/ppo_pendulum.py                  # one agent, a few minutes on 2 CPU cores
    python examples/ppo_pendulum.py --num-seeds 8    # 8 independent agents in one vmapped, compiled run
    python examples/ppo_pendulum.py --help           # every setting

One iteration: COLLECT ``rollout_len`` steps of ``num_envs`` stateless envs (finished episodes reset
from each env's own key), ADVANTAGES by GAE on the critic's values, UPDATE with ``epochs`` passes of
shuffled minibatches through `frl.train.make_ppo_update`, LOG the finished episodes' returns. Each
phase is a pure function written for one agent; one `torch.vmap` makes them per-seed and
`frl.train.compile_step` compiles each whole (``fullgraph=True``). The host syncs only to log.

References:
    Schulman et al., "Proximal Policy Optimization Algorithms" (2017); Schulman et al., "High-Dimensional
    Continuous Control Using Generalized Advantage Estimation" (2016); the vmapped-over-seeds shape
    follows PureJaxRL (Lu et al., "Discovered Policy Optimisation", 2022).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import tyro
from tensordict import TensorDict

import frl
from frl import random as fr
from frl.experiment import RunReport
from frl.train import compile_step, make_ppo_update


@dataclass
class Args:
    total_frames: int = 200_000
    """environment frames per seed"""
    num_envs: int = 16
    """parallel environments per seed"""
    rollout_len: int = 128
    """steps per environment between updates"""
    epochs: int = 10
    """passes over each batch of num_envs * rollout_len frames"""
    minibatch_size: int = 128
    """transitions per gradient step"""
    lr: float = 1e-3
    """Adam learning rate, annealed linearly to 0"""
    gamma: float = 0.9
    """discount (Pendulum's reward is dense: a short horizon learns fastest)"""
    lmbda: float = 0.95
    """GAE lambda"""
    clip_epsilon: float = 0.2
    """PPO ratio clip"""
    entropy_coef: float = 0.0
    """entropy bonus weight"""
    critic_loss: str = "l2"
    """critic regression loss: l2, smooth_l1 or l1"""
    critic_coef: float = 0.5
    """weight of the critic loss"""
    normalize_advantage: bool = True
    """normalize the advantages of each minibatch to zero mean, unit std"""
    max_grad_norm: float = 0.5
    """gradients are clipped to this global norm"""
    num_cells: int = 64
    """hidden units of the 2-layer tanh actor and critic"""
    seed: int = 0
    """seed of the first agent; agent i uses seed + i"""
    num_seeds: int = 1
    """independent agents trained at once (vmapped)"""
    threads: int = 1
    """torch CPU threads (small networks gain nothing from more, and OpenMP barriers stall on a busy machine)"""
    compile: bool = True
    """torch.compile every piece of the training step (fullgraph)"""
    out: str = "runs/ppo_pendulum"
    """folder for metrics.json and learning_curve.png"""


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    frames_per_batch = args.num_envs * args.rollout_len
    if frames_per_batch % args.minibatch_size:
        raise SystemExit(f"minibatch_size={args.minibatch_size} must divide num_envs * rollout_len"
                         f" = {frames_per_batch}")
    minibatches, iterations = frames_per_batch // args.minibatch_size, args.total_frames // frames_per_batch

    # ---- the pieces: env, actor-critic, optimizer, the pure PPO update ----
    env = frl.envs.make("Pendulum-v1")
    # From the specs: a bounded box of torques gives a tanh-Gaussian policy on the box's bounds.
    cells = (args.num_cells,) * 2
    actor = frl.nn.make_actor(env, num_cells=cells, activation="tanh")
    critic = frl.nn.make_critic(env, num_cells=cells, activation="tanh")
    # The schedule counts gradient steps: the learning rate reaches 0 at the run's last minibatch.
    optimizer = frl.optim.chain(frl.optim.clip_by_global_norm(args.max_grad_norm), frl.optim.adam(
        frl.optim.linear_schedule(args.lr, 0.0, iterations * args.epochs * minibatches)))
    update = make_ppo_update(actor.get_dist, critic.apply, optimizer, clip_epsilon=args.clip_epsilon,
                             entropy_coef=args.entropy_coef, critic_coef=args.critic_coef, critic_loss=args.critic_loss,
                             normalize_advantage=args.normalize_advantage)

    # ---- one agent, as pure functions of explicit state ----
    def init(key):
        k_actor, k_critic, k_env, k_run = fr.split(key, 4)
        params = TensorDict(actor=actor.init(k_actor), critic=critic.init(k_critic))
        env_td = env.reset(k_env, (args.num_envs,))
        env_td.set("episode_return", torch.zeros(args.num_envs, 1, dtype=env_td["observation"].dtype))
        return params, optimizer.init(params), env_td, k_run

    def collect(params, env_td, key):
        """One step of every env: the transition (with the episode return so far) and the next env state."""
        td = env.step(actor.apply(params["actor"], env_td, key))
        episode_return, running = frl.envs.track_episode_return(td, td["episode_return"])
        td.set(("next", "episode_return"), episode_return)
        # Keep the env state's own keys only (not the policy's outputs): the same structure at every
        # step, so the compiled step never recompiles.
        env_next = frl.envs.auto_reset(env, td).select(*env_td.keys())
        return td, env_next.set("episode_return", running)

    def advantages(params, rollout):
        """GAE on a [num_envs, T] rollout. ("next", "observation") is the true final observation at an
        episode's end: truncated episodes bootstrap from it, terminated ones do not."""
        value = critic.apply(params["critic"], rollout)["state_value"]
        next_value = critic.apply(params["critic"], rollout["next"])["state_value"]
        advantage, value_target = frl.returns.gae(rollout["next", "reward"], value, next_value, rollout["next", "done"],
                                                  rollout["next", "terminated"], gamma=args.gamma, lmbda=args.lmbda,
                                                  time_dim=-2)
        return rollout.update({"advantage": advantage, "value_target": value_target, "state_value": value})

    def minibatch_update(params, opt_state, data, index):
        # The gather happens inside the compiled graph: no host-side indexing per minibatch.
        return update(params, opt_state, data[index])

    # ---- per seed: every function vmapped over a leading seed dimension, then compiled whole ----
    def per_seed(f: Callable) -> Callable:
        return compile_step(torch.vmap(f), enabled=args.compile)

    v_collect, v_advantages, v_update = map(per_seed, (collect, advantages, minibatch_update))
    shuffle = torch.vmap(lambda k: fr.permutation(k, frames_per_batch))

    keys = torch.stack([fr.key(args.seed + i) for i in range(args.num_seeds)])
    params, opt_state, env_td, run_keys = torch.vmap(init, randomness="error")(keys)
    # vmap may return broadcast (stride-0) leaves, e.g. the optimizer's step count; later steps return
    # dense ones. Dense from the start: the compiled steps see one layout and never recompile.
    params, opt_state, env_td = frl.tree.dense((params, opt_state, env_td))
    report = RunReport(args.total_frames, args.num_seeds, args.out, desc="PPO Pendulum-v1",
                       frames_per_iteration=frames_per_batch)

    for iteration in range(iterations):
        # This iteration's keys, per seed: one per env step, then one per epoch's shuffle.
        keys = torch.vmap(lambda k, i=iteration: fr.split(fr.fold_in(k, i), args.rollout_len + args.epochs))(run_keys)

        # COLLECT: rollout_len steps of every env -> [seeds, num_envs, T]
        transitions = []
        for t in range(args.rollout_len):
            transition, env_td = v_collect(params, env_td, keys[:, t])
            transitions.append(transition)
        rollout = torch.stack(transitions, dim=-1)

        # ADVANTAGES: GAE with the critic before this iteration's updates
        rollout = v_advantages(params, rollout)

        # UPDATE: epochs passes of shuffled minibatches over the flattened batch
        data = rollout.reshape(args.num_seeds, frames_per_batch)
        for epoch in range(args.epochs):
            perm = shuffle(keys[:, args.rollout_len + epoch])
            for i in range(minibatches):
                index = perm[:, i * args.minibatch_size:(i + 1) * args.minibatch_size]
                params, opt_state, metrics = v_update(params, opt_state, data, index)

        # LOG: the returns of the episodes that ended in this batch (the one host sync per iteration)
        report.log((iteration + 1) * frames_per_batch, rollout["next", "episode_return"], rollout["next", "done"])
    return report.finish({"args": asdict(args)})


if __name__ == "__main__":
    main(tyro.cli(Args))
