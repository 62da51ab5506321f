"""What wrapping costs: a torch.nn.Sequential MLP through frl.nn.from_torch against frl.nn.mlp, in one run.

Both networks have the README's PPO sizes (observation 3, three hidden layers of 128, tanh, one
output) and the same weights. A step is one training step on a batch of 256: the squared error, its
gradient (torch.func.grad_and_value) and frl.optim.adam's update, for one network and for a vmapped
ensemble of 8. Rows: eager, and torch.compile(fullgraph=True), whose first call (the compile time) is
reported apart from the per-step time. The last column is wrapped / frl.nn.mlp (target: at most 1.10).

    python bench/nn_wrap.py [--iters 200] [--threads 1] [--device cpu] [--smoke]

Inductor's on-disk caches are off, so the second network does not reuse the first one's kernels.
"""

from __future__ import annotations

import argparse
import os
import sys

# Before torch is imported: each compile is measured cold (the two graphs may well be identical).
os.environ["TORCHINDUCTOR_FX_GRAPH_CACHE"] = "0"
os.environ["TORCHINDUCTOR_AUTOGRAD_CACHE"] = "0"

import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine_line, print_table, time_call, time_first_call  # noqa: E402

import frl  # noqa: E402
from frl import random as fr  # noqa: E402

OBS, CELLS, DEPTH, BATCH, ENSEMBLE, LR = 3, 128, 3, 256, 8, 3e-4


def sequential() -> nn.Sequential:
    layers: list[nn.Module] = []
    d = OBS
    for _ in range(DEPTH):
        layers += [nn.Linear(d, CELLS), nn.Tanh()]
        d = CELLS
    return nn.Sequential(*layers, nn.Linear(d, 1))


def make_step(net: frl.nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = frl.optim.adam(LR)

    def loss(p):
        return ((net.apply(p, x) - y) ** 2).mean()

    def step(p, state):
        grads, value = torch.func.grad_and_value(loss)(p)
        updates, state = opt.update(grads, state, p)
        return frl.optim.apply_updates(p, updates), state, value

    return opt, step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iters", type=int, default=200)
    # One thread: on a shared CPU, OpenMP regions stall whenever another process holds a core.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="eager rows only, 3 calls (for the test)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = args.device
    iters = 3 if args.smoke else args.iters

    torch.manual_seed(0)
    module = sequential().to(dev)
    wrapped = frl.nn.from_torch(module)
    native = frl.nn.mlp(OBS, 1, (CELLS,) * DEPTH, activation="tanh")
    x = torch.randn(BATCH, OBS, device=dev)
    y = torch.randn(BATCH, 1, device=dev)
    # The same weights for both: frl.nn.mlp's params have nn.Sequential's layout.
    params = wrapped.init(fr.key(0))
    ensemble = wrapped.init(fr.split(fr.key(1), ENSEMBLE))

    if not args.smoke:
        # The first compile of a process also pays for loading dynamo, inductor and their code paths:
        # pay it on a network of other sizes, so that the first measured row is not charged for it.
        warm = frl.nn.mlp(OBS, 2, (16,))
        warm_opt, warm_step = make_step(warm, x, torch.randn(BATCH, 2, device=dev))
        warm_params = warm.init(fr.key(2))
        torch.compile(warm_step, fullgraph=True)(warm_params, warm_opt.init(warm_params))
    nets = {"frl.nn.mlp": native, "from_torch(nn.Sequential)": wrapped}
    results: dict[tuple[str, str], dict[str, float | None]] = {}
    for what, p in (("one network", params), (f"ensemble of {ENSEMBLE} (vmap)", ensemble)):
        for name, net in nets.items():
            opt, step = make_step(net, x, y)
            fn = step if p is params else torch.vmap(step)
            state = opt.init(p) if p is params else torch.vmap(opt.init)(p)
            eager = time_call(lambda fn=fn, p=p, state=state: fn(p, state), warmup=1 if args.smoke else 3,
                              iters=iters, repeats=1 if args.smoke else 5, device=dev)
            row: dict[str, float | None] = {"eager": eager * 1e3, "compile": None, "compiled": None}
            if not args.smoke:
                torch._dynamo.reset()
                compiled = torch.compile(fn, fullgraph=True)
                row["compile"] = time_first_call(lambda c=compiled, p=p, state=state: c(p, state), device=dev)
                row["compiled"] = 1e3 * time_call(lambda c=compiled, p=p, state=state: c(p, state), iters=iters,
                                                  device=dev)
            results[(what, name)] = row

    print(f"# one training step (MSE, grad, adam), batch {BATCH}, MLP {OBS}-{CELLS}x{DEPTH}-1 tanh; {machine_line()}")
    rows = []
    for (what, name), r in results.items():
        base = results[(what, "frl.nn.mlp")]

        def ratio(col, r=r, base=base):
            a, b = r[col], base[col]
            return None if a is None or b is None else a / b

        rows.append([what, name, r["eager"], r["compiled"], r["compile"], ratio("eager"), ratio("compiled"),
                     ratio("compile")])
    print_table(["step of", "network", "eager ms", "compiled ms", "compile s", "eager ratio", "compiled ratio",
                 "compile ratio"], rows)


if __name__ == "__main__":
    main()
