"""One Adam step on the README network: frl.optim against torch.optim.Adam, in one run.

The network is the README's PPO network: actor and critic MLPs with 3 hidden layers of 128 and tanh,
observation dim 3, action dim 1 (the actor outputs loc and scale). A step is Adam's update and its
application to the params, given gradients that are already computed:

- torch.optim.Adam(foreach=True).step() and the default (foreach=None) on the modules' parameters,
  eagerly, and the foreach step under torch.compile;
- frl: ``updates, state = opt.update(grads, state, params); params = apply_updates(params, updates)``
  on the params TensorDict, eagerly and under torch.compile(fullgraph=True);
- the same Adam arithmetic written with ``TensorDict.apply``, the design frl.optim did not take.

    python bench/optim_step.py [--device cuda] [--iters 200] [--threads 1]

Compile time is the first call of a fresh compiled function, reported apart from the per-step time.
The number of kernels inductor generated for the compiled frl step is printed too.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from tensordict import TensorDict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine_line, print_table, time_call, time_first_call  # noqa: E402

from frl import optim  # noqa: E402

OBS, ACT, CELLS, DEPTH, LR = 3, 1, 128, 3, 3e-4


def mlp(n_in: int, n_out: int) -> torch.nn.Sequential:
    layers, d = [], n_in
    for _ in range(DEPTH):
        layers += [torch.nn.Linear(d, CELLS), torch.nn.Tanh()]
        d = CELLS
    return torch.nn.Sequential(*layers, torch.nn.Linear(d, n_out))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iters", type=int, default=200)
    # One thread by default: on a shared CPU, inductor's OpenMP regions stall at their barriers
    # whenever another process holds a core, which measures the neighbours, not the optimizer.
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = args.device
    torch.manual_seed(0)
    net = torch.nn.ModuleDict({"actor": mlp(OBS, 2 * ACT), "critic": mlp(OBS, 1)}).to(dev)
    params = TensorDict.from_module(net).detach().clone()
    grads = params.apply(lambda p: torch.randn_like(p) * 1e-2)
    assert grads is not None  # apply returns None only when it works in place (inplace=True)
    n_tensors = len(params.keys(include_nested=True, leaves_only=True))
    n_params = sum(p.numel() for p in net.parameters())
    print(f"# {machine_line()}, device {dev}")
    print(f"# params: {n_tensors} tensors, {n_params} numbers")
    time = lambda fn: time_call(fn, warmup=5, iters=args.iters, repeats=5, device=dev)  # noqa: E731

    rows = []
    # --- torch.optim --------------------------------------------------------------------------
    for p, g in zip(net.parameters(), grads.values(include_nested=True, leaves_only=True), strict=True):
        assert isinstance(g, torch.Tensor)  # leaves_only: every value is a tensor
        p.grad = g.clone()
    torch_ms = {}
    for label, foreach in [("torch.optim.Adam(foreach=True)", True), ("torch.optim.Adam (default)", None)]:
        opt_t = torch.optim.Adam(net.parameters(), lr=LR, foreach=foreach)
        torch_ms[label] = time(opt_t.step) * 1e3
        rows.append([label, "eager", torch_ms[label], None])
    opt_t = torch.optim.Adam(net.parameters(), lr=LR, foreach=True)
    opt_t.step()  # creates the state outside the compiled region, as the PyTorch recipe does
    compiled_step = torch.compile(opt_t.step, fullgraph=False)
    first = time_first_call(compiled_step, dev)
    rows.append(["torch.optim.Adam(foreach=True)", "compile", time(compiled_step) * 1e3, first])

    # --- frl.optim ----------------------------------------------------------------------------
    opt = optim.adam(LR)

    def frl_step(params, grads, state):
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    state = opt.init(params)
    frl_eager = time(lambda: frl_step(params, grads, state)) * 1e3
    rows.append(["frl.optim.adam update + apply_updates", "eager", frl_eager, None])

    from torch._inductor import metrics
    torch._dynamo.reset()
    metrics.reset()
    compiled = torch.compile(frl_step, fullgraph=True)
    first = time_first_call(lambda: compiled(params, grads, state), dev)
    kernels = metrics.generated_kernel_count
    with torch._dynamo.config.patch(error_on_recompile=True):
        frl_compiled = time(lambda: compiled(params, grads, state)) * 1e3
        # The loop as a user writes it: the outputs feed the next call (no recompile allowed).
        p, s = params, state
        for _ in range(3):
            p, s = compiled(p, grads, s)
    rows.append(["frl.optim.adam update + apply_updates", "compile", frl_compiled, first])

    # --- the design not taken: Adam written with TensorDict.apply --------------------------------
    # frl.optim flattens each tree once (torch pytree under compile, a direct walk eagerly) and does
    # list arithmetic; this row is the same Adam step as TensorDict.apply calls, for comparison.
    b1, b2, eps = 0.9, 0.999, 1e-8

    def td_apply_step(params, grads, state):
        count, mu, nu = state
        t = (count + 1).to(torch.float32)
        bc1, bc2_sqrt = 1 - b1 ** t, torch.sqrt(1 - b2 ** t)
        mu = mu.apply(lambda m, g: torch.lerp(m, g, 1 - b1), grads)
        nu = nu.apply(lambda v, g: torch.addcmul(v * b2, g, g, value=1 - b2), grads)
        params = params.apply(lambda p, m, v: p - LR * (m / bc1) / (torch.sqrt(v) / bc2_sqrt + eps), mu, nu)
        return params, (count + 1, mu, nu)

    td_state = (torch.zeros((), dtype=torch.int32, device=dev), params.apply(torch.zeros_like),
                params.apply(torch.zeros_like))
    rows.append(["Adam via TensorDict.apply", "eager", time(lambda: td_apply_step(params, grads, td_state)) * 1e3,
                 None])
    torch._dynamo.reset()
    compiled_td = torch.compile(td_apply_step, fullgraph=True)
    first = time_first_call(lambda: compiled_td(params, grads, td_state), dev)
    rows.append(["Adam via TensorDict.apply", "compile", time(lambda: compiled_td(params, grads, td_state)) * 1e3,
                 first])

    print_table(["what", "mode", "ms / step", "compile s"], rows)
    ref = torch_ms["torch.optim.Adam(foreach=True)"]
    print(f"\nfrl eager / torch foreach eager:    {frl_eager / ref:.2f}x the time")
    print(f"frl compiled / torch foreach eager: {frl_compiled / ref:.2f}x the time")
    print(f"kernels generated for the compiled frl step: {kernels}")


if __name__ == "__main__":
    main()
