"""On-policy training (PPO) on a stateless env: pure collect / advantage / update pieces and a loop.

The pieces are pure functions of explicit state, written for one agent:

* `make_collect_step`: act in every env, step, track episode returns, auto-reset finished episodes;
* `make_advantages`: the critic's values on a ``[num_envs, T]`` rollout, then GAE;
* `frl.train.make_ppo_update`: one gradient step on a minibatch.

`PPOTrainer` vmaps each piece over a leading *seed* dimension (so one trainer trains N independent
agents at once), compiles it with ``fullgraph=True``, and runs the host loop: collect
``rollout_len`` steps, compute advantages, then ``epochs`` passes of shuffled minibatches. Hooks see
every iteration (logging, checkpoints, evaluation).

References:
    Schulman et al., "Proximal Policy Optimization Algorithms" (2017); the single-compiled-function,
    vmapped-over-seeds structure follows PureJaxRL (Lu et al., 2022).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from tensordict import TensorDict, TensorDictBase

from frl import random as fr
from frl._checks import fail
from frl.envs import auto_reset, track_episode_return
from frl.returns import gae
from frl.train.ppo import make_ppo_update
from frl.tree import dense

__all__ = ["PPOConfig", "TrainState", "make_collect_step", "make_advantages", "PPOTrainer"]


@dataclass(frozen=True)
class PPOConfig:
    """Settings of `PPOTrainer` (loss settings go to `frl.objectives.clip_ppo_loss`)."""

    num_envs: int = 64          # parallel envs per agent
    rollout_len: int = 32       # steps per env between updates
    epochs: int = 10            # passes over each batch
    minibatch_size: int = 512   # transitions per gradient step
    gamma: float = 0.99         # discount
    lmbda: float = 0.95         # GAE lambda
    clip_epsilon: float = 0.2
    entropy_coef: float = 0.0
    critic_coef: float = 1.0
    critic_loss: str = "smooth_l1"
    normalize_advantage: bool = True

    @property
    def frames_per_batch(self) -> int:
        return self.num_envs * self.rollout_len

    @property
    def minibatches(self) -> int:
        return self.frames_per_batch // self.minibatch_size

    def updates(self, total_frames: int) -> int:
        """Gradient steps in a run of ``total_frames`` frames per agent (for LR schedules)."""
        return (total_frames // self.frames_per_batch) * self.epochs * self.minibatches


class TrainState(NamedTuple):
    """Everything a PPO run carries between iterations; each leaf has a leading seed dimension."""

    params: TensorDict      # {"actor": ..., "critic": ...}
    opt_state: object       # the optimizer's state pytree
    env: TensorDict         # env state [seeds, num_envs], with "episode_return"
    key: torch.Tensor       # [seeds, 2]
    iteration: int = 0


def make_collect_step(env, actor) -> Callable:
    """``collect_step(actor_params, env_td, key) -> (transition, env_td)`` for one step of every env.

    The transition holds TorchRL's keys plus ``("next", "episode_return")``, the return accumulated
    up to and including this step (read it where ``("next", "done")`` is set). ``env_td`` is the env
    state for the next step: finished episodes are reset from each env's own key.
    """

    def collect_step(actor_params: TensorDictBase, env_td: TensorDictBase, key: torch.Tensor):
        td = env.step(actor.apply(actor_params, env_td, key))
        episode_return, running = track_episode_return(td, td.get("episode_return"))
        td.set(("next", "episode_return"), episode_return)
        # Keep the env state's own keys only (not the policy's outputs), so that its structure is the
        # same at every step: a compiled step then never recompiles.
        env_next = auto_reset(env, td).select(*env_td.keys())
        env_next.set("episode_return", running)
        return td, env_next

    return collect_step


def make_advantages(critic, gamma: float, lmbda: float) -> Callable:
    """``advantages(critic_params, rollout [num_envs, T]) -> rollout`` plus advantage, value_target, state_value.

    ``next_value`` is the critic's value of ``("next", "observation")``, the true final observation
    at an episode end, so truncated episodes bootstrap correctly and terminated ones do not (GAE reads
    ``("next", "terminated")``).
    """

    def advantages(critic_params: TensorDictBase, rollout: TensorDictBase) -> TensorDictBase:
        value = critic.apply(critic_params, rollout)["state_value"]
        next_value = critic.apply(critic_params, rollout.get("next"))["state_value"]
        advantage, value_target = gae(rollout.get(("next", "reward")), value, next_value,
                                      rollout.get(("next", "done")), rollout.get(("next", "terminated")),
                                      gamma=gamma, lmbda=lmbda, time_dim=-2)
        return rollout.update({"advantage": advantage, "value_target": value_target, "state_value": value})

    return advantages


class PPOTrainer:
    """Trains ``num_seeds`` independent PPO agents on a stateless env, vmapped and compiled.

    Args:
        env: a stateless `frl.envs` environment.
        actor: an `frl.nn.probabilistic_actor`.
        critic: an `frl.nn.value_operator`.
        optimizer: an `frl.optim` transformation (schedules count gradient steps: see
            `PPOConfig.updates`).
        config: `PPOConfig`.
        compile: compile each vmapped piece with ``torch.compile(fullgraph=True)``.
        grad_transform: see `frl.train.make_ppo_update` (gradient all-reduce under torchrun).

    Example:
        >>> trainer = PPOTrainer(env, actor, critic, frl.optim.adam(3e-4), PPOConfig())
        >>> state = trainer.init(seeds=[0, 1, 2])
        >>> for _ in range(10):
        ...     state, rollout, metrics = trainer.iteration(state)
    """

    def __init__(self, env, actor, critic, optimizer, config: PPOConfig = PPOConfig(), *, compile: bool = True,
                 grad_transform: Callable | None = None):
        self.env, self.actor, self.critic, self.optimizer, self.config = env, actor, critic, optimizer, config
        if config.frames_per_batch % config.minibatch_size:
            raise ValueError(f"frl.train.PPOTrainer: minibatch_size={config.minibatch_size} must divide "
                             f"num_envs * rollout_len = {config.frames_per_batch}")
        update = make_ppo_update(actor.get_dist, critic.apply, optimizer, grad_transform=grad_transform,
                                 clip_epsilon=config.clip_epsilon, entropy_coef=config.entropy_coef,
                                 critic_coef=config.critic_coef, critic_loss=config.critic_loss,
                                 normalize_advantage=config.normalize_advantage)
        collect_step = make_collect_step(env, actor)
        advantages = make_advantages(critic, config.gamma, config.lmbda)

        def minibatch_update(params, opt_state, data, index):
            # The gather happens inside the compiled graph: no host-side indexing per minibatch.
            return update(params, opt_state, data[index])

        # Each piece is its own function (its own code object) that vmaps over seeds inside: compiling
        # torch.vmap(f) directly would give all pieces vmap's one wrapper code object, and they
        # would share, and thrash, one compile cache.
        def collect(params, env_td, keys):
            return torch.vmap(lambda p, e, k: collect_step(p["actor"], e, k))(params, env_td, keys)

        def advantage(params, rollout):
            return torch.vmap(lambda p, r: advantages(p["critic"], r))(params, rollout)

        def minibatch(params, opt_state, data, index):
            return torch.vmap(minibatch_update)(params, opt_state, data, index)

        jit = (lambda f: torch.compile(f, fullgraph=True)) if compile else (lambda f: f)
        self._collect, self._advantages, self._update = jit(collect), jit(advantage), jit(minibatch)
        self._shuffle = torch.vmap(lambda k: fr.permutation(k, config.frames_per_batch))

    def init(self, seeds: Sequence[int] | torch.Tensor | None = None, *, keys: torch.Tensor | None = None
             ) -> TrainState:
        """Fresh params, optimizer state and envs for each agent, from seeds or from keys (one of them).

        Args:
            seeds: ints, or an integer tensor of shape [N]: agent i starts from ``frl.random.key(seeds[i])``.
            keys: `frl.random` keys, int64 [N, 2]: agent i starts from ``keys[i]``.

        Returns:
            `TrainState` with a leading dimension N on every leaf (agent i is fully determined by its
            seed or key).
        """
        fn = "frl.train.PPOTrainer.init"
        if (seeds is None) == (keys is None):
            fail(fn, "give exactly one of seeds= (ints) and keys= (frl.random keys [N, 2])")
        if keys is not None:
            if not (fr.is_key(keys) and keys.dim() == 2):
                what = (f"a {keys.dtype} tensor of shape {list(keys.shape)}" if isinstance(keys, torch.Tensor)
                        else type(keys).__name__)
                fail(fn, f"keys= is {what}, expected frl.random keys: an int64 tensor of shape [N, 2]")
        elif isinstance(seeds, torch.Tensor):
            if seeds.dim() != 1 or seeds.is_floating_point() or seeds.is_complex() or seeds.dtype == torch.bool:
                fail(fn, f"seeds= is a {seeds.dtype} tensor of shape {list(seeds.shape)}, expected ints: an "
                         "integer tensor of shape [N] (pass frl.random keys as keys=)")
            keys = torch.stack([fr.key(int(s)) for s in seeds.tolist()])
        else:
            assert seeds is not None
            keys = torch.stack([fr.key(int(s)) for s in seeds])
        n = self.config.num_envs

        def one(key):
            k_actor, k_critic, k_env, k_run = fr.split(key, 4)
            params = TensorDict(actor=self.actor.init(k_actor), critic=self.critic.init(k_critic))
            env_td = self.env.reset(k_env, (n,))
            env_td.set("episode_return", torch.zeros(n, 1, dtype=env_td["observation"].dtype))
            return params, self.optimizer.init(params), env_td, k_run

        params, opt_state, env_td, run_keys = torch.vmap(one, randomness="error")(keys)
        # vmap may return broadcast (stride-0) leaves, e.g. the optimizer's step count; later steps
        # return dense ones. Make them dense now so the compiled steps see one layout (no recompile).
        params, opt_state, env_td = dense((params, opt_state, env_td))
        return TrainState(params, opt_state, env_td, run_keys, 0)

    def iteration(self, state: TrainState) -> tuple[TrainState, TensorDict, TensorDict | None]:
        """Collect one batch per agent, compute advantages, run the PPO epochs.

        Returns:
            ``(state, rollout, metrics)``: the rollout is [seeds, num_envs, T] with advantages; the
            metrics of the last minibatch update are [seeds] (``None`` with ``epochs=0``).
        """
        cfg = self.config
        params, opt_state, env_td = state.params, state.opt_state, state.env
        # Keys for this iteration: one per env step and one per epoch's shuffle, for every agent.
        keys = torch.vmap(lambda k: fr.split(fr.fold_in(k, state.iteration), cfg.rollout_len + cfg.epochs))(state.key)
        transitions = []
        for t in range(cfg.rollout_len):
            transition, env_td = self._collect(params, env_td, keys[:, t])
            transitions.append(transition)
        rollout = self._advantages(params, torch.stack(transitions, dim=-1))
        data = rollout.reshape(rollout.batch_size[0], cfg.frames_per_batch)
        metrics = None
        for epoch in range(cfg.epochs):
            perm = self._shuffle(keys[:, cfg.rollout_len + epoch])
            for i in range(cfg.minibatches):
                index = perm[:, i * cfg.minibatch_size:(i + 1) * cfg.minibatch_size]
                params, opt_state, metrics = self._update(params, opt_state, data, index)
        return TrainState(params, opt_state, env_td, state.key, state.iteration + 1), rollout, metrics

    def run(self, total_frames: int, seeds: Sequence[int], hooks: Sequence[Callable] = ()) -> TrainState:
        """Train for ``total_frames`` frames per agent; call ``hook(trainer, state, rollout, metrics)``
        after every iteration."""
        state = self.init(seeds)
        for _ in range(total_frames // self.config.frames_per_batch):
            state, rollout, metrics = self.iteration(state)
            for hook in hooks:
                hook(self, state, rollout, metrics)
        return state
