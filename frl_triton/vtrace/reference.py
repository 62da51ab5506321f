"""V-trace reference: a readable reverse loop in float64 (Espeholt et al. 2018, TorchRL's done rules)."""

from __future__ import annotations

import torch


def vtrace_reference(reward, value, next_value, log_rho, done, terminated, gamma, rho_bar, c_bar,
                     time_dim=-2):
    """Return ``(vs, pg_advantage)`` in float64.

    ``vs_t = v_t + delta_t + gamma_t (1 - done_t) c_t (vs_{t+1} - v_{t+1})`` with
    ``delta_t = rho_t (r_t + gamma_t (1 - terminated_t) v'_t - v_t)``, ``rho_t = min(rho_bar, e^log_rho)``,
    ``c_t = min(c_bar, e^log_rho)``; ``pg_t = rho_t (r_t + gamma_t (1 - terminated_t) vs'_{t+1} - v_t)``
    where ``vs'_{t+1}`` is ``next_value_t`` at a done or at the last step, else ``vs_{t+1}``.
    """
    f64 = torch.float64
    shape = reward.shape
    reward, value, next_value, log_rho = (
        x.to(f64).movedim(time_dim, 0) for x in (reward, value, next_value, log_rho))
    done, terminated = (x.bool().movedim(time_dim, 0) for x in (done, terminated))
    gamma = torch.as_tensor(gamma, dtype=f64).broadcast_to(shape).movedim(time_dim, 0)
    T = reward.shape[0]
    rho = log_rho.exp()
    vs = torch.zeros_like(reward)
    pg = torch.zeros_like(reward)
    # vs_{t+1} - v_{t+1}; unused at the last step
    diff = torch.zeros(reward.shape[1:], dtype=torch.float64, device=reward.device)
    for t in reversed(range(T)):
        rho_t = torch.clamp(rho[t], max=rho_bar)
        c_t = torch.clamp(rho[t], max=c_bar)
        discount = torch.where(terminated[t], 0.0, gamma[t])
        delta = rho_t * (reward[t] + discount * next_value[t] - value[t])
        trace = 0.0 if t == T - 1 else torch.where(done[t], 0.0, gamma[t] * c_t * diff)
        diff = delta + trace
        vs[t] = value[t] + diff
        vs_next = next_value[t] if t == T - 1 else torch.where(done[t], next_value[t], vs[t + 1])
        pg[t] = rho_t * (reward[t] + discount * vs_next - value[t])
    return vs.movedim(0, time_dim), pg.movedim(0, time_dim)
