"""PETS-style model-based RL on Pendulum-v1: an ensemble of 5 learned dynamics models, CEM planning.

    python examples/model_based_pendulum.py                 # about 5,000 real steps
    python examples/model_based_pendulum.py --oracle        # plan with the true physics (an upper bound)
    python examples/model_based_pendulum.py --help          # every setting

Rounds of one episode per real env (``num_envs`` at once): COLLECT acts at random in the first round,
then by model-predictive control: CEM over action sequences (``popsize`` candidates scored by their
mean return over the members' imagined `frl.envs.rollout` of a `frl.envs.ModelEnv`, ``elites`` refit
a Gaussian, warm-started from the previous plan); STORE keeps every real transition; UPDATE fits the
5 MLPs (observation deltas, MSE, vmapped over the members, each with its own minibatches); LOG shows
the returns. The reward is Pendulum's known function, as in PETS. The last round is the evaluation.

References:
    Chua et al., "Deep Reinforcement Learning in a Handful of Trials using Probabilistic Dynamics
    Models", NeurIPS 2018. Rubinstein, "The Cross-Entropy Method for Combinatorial and Continuous
    Optimization", 1999.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
import tyro
from tensordict import TensorDict

import frl
from frl import random as fr
from frl.experiment import RunReport
from frl.train import compile_step


@dataclass
class Args:
    total_frames: int = 4800
    """real env steps in all, random round and evaluation round included (a multiple of num_envs x max_episode_steps)"""
    num_envs: int = 8
    """real envs run in parallel (one episode each per round)"""
    max_episode_steps: int = 200
    """Pendulum's time limit (200 in Pendulum-v1)"""
    ensemble_size: int = 5
    """dynamics models in the ensemble"""
    num_cells: int = 64
    """hidden units of each model's 2 hidden layers"""
    train_steps: int = 600
    """gradient steps on the ensemble after each round"""
    batch_size: int = 256
    """transitions per gradient step (each member draws its own)"""
    lr: float = 2e-3
    """Adam learning rate of the models"""
    horizon: int = 15
    """planning horizon (model steps)"""
    popsize: int = 128
    """CEM candidate action sequences per env and iteration"""
    elites: int = 12
    """best candidates that refit the CEM distribution"""
    iterations: int = 3
    """CEM iterations per real step"""
    alpha: float = 0.1
    """CEM smoothing: new = alpha * old + (1 - alpha) * elite statistic"""
    init_std: float = 1.0
    """initial standard deviation of the CEM distribution (the torque range is [-2, 2])"""
    oracle: bool = False
    """plan with Pendulum's true physics instead of the learned ensemble (an upper bound; no training)"""
    seed: int = 0
    """seed of the env, the models and the planner"""
    threads: int = 1
    """torch CPU threads"""
    compile: bool = True
    """torch.compile the planner and the model update (fullgraph)"""
    out: str = "runs/model_based_pendulum"
    """folder for metrics.json and learning_curve.png"""


def angle(obs: torch.Tensor) -> torch.Tensor:
    return torch.atan2(obs[..., 1], obs[..., 0])


def pendulum_reward(params, obs, action, next_obs):
    """Pendulum-v1's reward from the observation before the step, as gymnasium computes it (known, as in PETS)."""
    u = action[..., 0].clamp(-2.0, 2.0)
    return -(angle(obs) ** 2 + 0.1 * obs[..., 2] ** 2 + 0.001 * u**2)


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    env = frl.envs.make("Pendulum-v1", max_episode_steps=args.max_episode_steps)
    E, T, M, H, P = args.num_envs, args.max_episode_steps, args.ensemble_size, args.horizon, args.popsize
    rounds = args.total_frames // (E * T)
    if rounds < (1 if args.oracle else 2):
        raise SystemExit(f"total_frames={args.total_frames} leaves {rounds} round(s) of num_envs x max_episode_steps"
                         f" = {E * T} steps; need at least 2 (a random one and a planning one)")
    spec = env.action_spec
    assert isinstance(spec, frl.envs.Bounded)  # a box of torques
    obs_dim, act_dim, high = env.observation_spec.shape[-1], spec.shape[-1], float(torch.as_tensor(spec.high).max())
    net = frl.nn.mlp(obs_dim + act_dim, obs_dim, num_cells=(args.num_cells,) * 2, activation="silu")

    # ---- the model env: params = one member's network and the data's normalization statistics ----
    def dynamics(p, obs, action):
        x = (torch.cat([obs, action], -1) - p["in_mean"]) / p["in_std"]
        return obs + net.apply(p["net"], x) * p["out_std"] + p["out_mean"]

    def true_dynamics(p, obs, action):
        # The oracle: Pendulum's own transition, read through the observation.
        state = torch.stack([angle(obs), obs[..., 2]], -1)
        return env._observe(env._transition(state, action)[0])

    model = frl.envs.ModelEnv(true_dynamics if args.oracle else dynamics, pendulum_reward,
                              observation_spec=frl.envs.Unbounded((obs_dim,)), action_spec=env.action_spec,
                              name="PendulumModel")

    # ---- CEM planner over the ensemble: one compiled call per real step, for all envs ----
    def predicted_returns(ens, obs, candidates, key):
        """Mean over the models of each candidate's predicted return: [E, P]."""
        td = model.reset(key, start=obs.unsqueeze(1).expand(E, P, obs_dim))

        def policy(td):  # candidate action at the current step: candidates[e, p, step_count]
            t = td.get("step_count").unsqueeze(-1)  # [E, P, 1, 1]
            return td.copy().set("action", torch.take_along_dim(candidates, t, dim=2).squeeze(2))

        def imagine(p):
            # ModelEnv has the stateless-env interface without subclassing frl.envs.Env (rollout's annotation).
            imagined = frl.envs.rollout(model.bind(p), policy, td, H, auto_reset=False)
            return imagined["next", "reward"]

        return torch.vmap(imagine, randomness="error")(ens).sum((-2, -1)).mean(0)

    def cem_iteration(ens, obs, mean, std, key):
        """One CEM iteration: sample candidates around (mean, std), refit both to the elites."""
        k_noise, k_env = fr.split(key)
        noise = fr.normal(k_noise, (E, P, H, act_dim))
        candidates = (mean.unsqueeze(1) + std.unsqueeze(1) * noise).clamp(-high, high)
        returns = predicted_returns(ens, obs, candidates, k_env)
        best = returns.topk(args.elites, dim=1).indices  # [E, elites]
        elites = torch.take_along_dim(candidates, best[:, :, None, None], dim=1)
        mean = args.alpha * mean + (1 - args.alpha) * elites.mean(1)
        std = args.alpha * std + (1 - args.alpha) * elites.std(1)
        return mean, std

    def plan(ens, obs, mean, key):
        # The iterations are a Python loop over one compiled iteration: unrolling them all into one
        # graph would multiply the compile time by their number for no gain in speed.
        std = torch.full_like(mean, args.init_std)
        for i in range(args.iterations):
            mean, std = cem_iteration_c(ens, obs, mean, std, fr.fold_in(key, i))
        # Act on the first step; warm-start the next plan with the rest, shifted by one step.
        return mean[:, 0], torch.cat([mean[:, 1:], torch.zeros_like(mean[:, :1])], 1)

    # ---- ensemble training: MSE on normalized deltas, vmapped over members, Adam ----
    optimizer = frl.optim.adam(args.lr)

    def train_member(p, opt_state, inputs, targets, n, key, step):
        # Each member draws its own minibatch from its own key (the ensemble's diversity, with the init).
        idx = fr.randint(fr.fold_in(key, step), (args.batch_size,), 0, n)
        x = (inputs[idx] - p["in_mean"]) / p["in_std"]
        y = (targets[idx] - p["out_mean"]) / p["out_std"]
        grads, loss = torch.func.grad_and_value(lambda q: ((net.apply(q, x) - y) ** 2).mean())(p["net"])
        updates, opt_state = optimizer.update(grads, opt_state, p["net"])
        p = p.copy().set("net", frl.optim.apply_updates(p["net"], updates))
        return p, opt_state, loss

    # One step for the whole ensemble: vmapped over the members (the data shared), compiled whole.
    train_c = compile_step(torch.vmap(train_member, in_dims=(0, 0, None, None, None, 0, None), randomness="error"),
                           enabled=args.compile)
    cem_iteration_c = compile_step(cem_iteration, enabled=args.compile)

    # ---- state of the run ----
    k_models, k_env, k_plan, k_train = fr.split(fr.key(args.seed), 4)
    nets = torch.vmap(net.init)(fr.split(k_models, M))
    ones = torch.ones(M, obs_dim + act_dim)
    ens = frl.tree.dense(TensorDict(net=nets, in_mean=0 * ones, in_std=ones, out_mean=0 * ones[:, :obs_dim],
                                    out_std=ones[:, :obs_dim], batch_size=(M,)))
    opt_state = frl.tree.dense(torch.vmap(optimizer.init)(ens["net"]))
    train_keys = fr.split(k_train, M)
    capacity = rounds * E * T  # fixed-size data tensors, so the compiled update never sees a new shape
    inputs, targets, n = torch.zeros(capacity, obs_dim + act_dim), torch.zeros(capacity, obs_dim), 0

    report = RunReport(rounds * E * T, 1, args.out, desc="PETS Pendulum-v1", window=E)
    td = env.reset(k_env, (E,))
    frames, plan_seconds, train_seconds, gradient_steps, losses, round_returns = 0, 0.0, 0.0, 0, [], []
    for r in range(rounds):
        mean = torch.zeros(E, H, act_dim)
        running = torch.zeros(E, 1)
        t0 = time.perf_counter()
        for t in range(T):
            # COLLECT: one real step of every env, random in the first round, MPC after
            if r == 0 and not args.oracle:
                td = frl.envs.random_action(env, td)
            else:
                action, mean = plan(ens, td["observation"], mean, fr.fold_in(k_plan, torch.tensor(frames)))
                td = td.copy().set("action", action)
            out, td = frl.envs.step_and_reset(env, td)
            episode_return, running = frl.envs.track_episode_return(out, running)
            # STORE: the transition, as the models' inputs and targets
            inputs[n:n + E] = torch.cat([out["observation"], out["action"]], -1)
            targets[n:n + E] = out["next", "observation"] - out["observation"]
            n, frames = n + E, frames + E
            # LOG: the progress bar every 20 steps, without a host sync every step
            if t % 20 == 19 or t == T - 1:
                report.log(frames, episode_return.reshape(1, E), out["next", "done"].reshape(1, E))
        round_returns.append(episode_return.mean().item())
        plan_seconds += time.perf_counter() - t0 if r > 0 or args.oracle else 0.0
        if args.oracle or r == rounds - 1:
            continue
        # UPDATE: fit the ensemble on every transition so far
        t0 = time.perf_counter()
        x, y = inputs[:n], targets[:n]
        stats = dict(in_mean=x.mean(0), in_std=x.std(0) + 1e-6, out_mean=y.mean(0), out_std=y.std(0) + 1e-6)
        ens = ens.copy().update({k: v.expand(M, -1).clone() for k, v in stats.items()})
        n_t = torch.tensor(n)
        for _ in range(args.train_steps):
            ens, opt_state, loss = train_c(ens, opt_state, inputs, targets, n_t, train_keys,
                                           torch.tensor(gradient_steps))
            gradient_steps += 1
        losses.append(loss.tolist())
        train_seconds += time.perf_counter() - t0
        report.bar.set_postfix(ret=f"{report.recent_returns()[0]:.1f}", model_loss=f"{loss.mean().item():.4f}")
    return report.finish({"args": asdict(args), "real_steps": frames, "rounds": rounds, "evaluation_episodes": E,
                          "round_returns": round_returns, "planning_seconds": plan_seconds,
                          "training_seconds": train_seconds, "gradient_steps": gradient_steps, "model_losses": losses})


if __name__ == "__main__":
    main(tyro.cli(Args))
