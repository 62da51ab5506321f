"""frl.optim against torch.optim, side by side on one small MLP regression problem.

Each case trains the same network twice for 20 steps: once with torch.optim on the module, once with
frl.optim on its parameters as a TensorDict (``TensorDict.from_module``), and compares every parameter
after every step. float64 cases use tolerances near rounding; float32 cases torch's defaults.
"""

import copy
import math

import pytest
import torch
from tensordict import TensorDict

from frl import optim
from frl.optim import _lists

STEPS = 20


def make_problem(dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16), torch.nn.Tanh(),
                              torch.nn.Linear(16, 1)).to(dtype)
    x = torch.randn(64, 3, generator=gen, dtype=dtype)
    y = torch.sin(x.sum(-1, keepdim=True)) + 0.1 * torch.randn(64, 1, generator=gen, dtype=dtype)
    return net, x, y


def forward(p, x):
    h = torch.tanh(x @ p["0", "weight"].T + p["0", "bias"])
    h = torch.tanh(h @ p["2", "weight"].T + p["2", "bias"])
    return h @ p["4", "weight"].T + p["4", "bias"]


def mse(p, x, y):
    return ((forward(p, x) - y) ** 2).mean()


def run_side_by_side(make_frl, make_torch, dtype, rtol, atol, clip=None, scheduler=None):
    """Train with both; assert equal params at every step. Returns the global grad norms seen."""
    net, x, y = make_problem(dtype)
    params = TensorDict.from_module(net).detach().clone()
    ref = copy.deepcopy(net)
    torch_opt = make_torch(ref.parameters())
    sched = scheduler(torch_opt) if scheduler else None
    opt = make_frl()
    state = opt.init(params)
    norms = []
    for step in range(STEPS):
        grads = torch.func.grad(mse)(params, x, y)
        norms.append(optim.global_norm(grads).item())
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)

        torch_opt.zero_grad()
        mse(TensorDict.from_module(ref), x, y).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(ref.parameters(), clip)
        torch_opt.step()
        if sched is not None:
            sched.step()
        for key, value in TensorDict.from_module(ref).items(include_nested=True, leaves_only=True):
            torch.testing.assert_close(params[key], value.detach(), rtol=rtol, atol=atol,
                                       msg=lambda m: f"step {step}, {key}: {m}")
    return norms


F64 = dict(dtype=torch.float64, rtol=1e-11, atol=1e-13)
F32 = dict(dtype=torch.float32, rtol=1e-5, atol=1e-6)

CASES = {
    "adam": (lambda: optim.adam(1e-2), lambda ps: torch.optim.Adam(ps, lr=1e-2)),
    "adam_l2": (lambda: optim.adam(1e-2, weight_decay=0.1), lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=0.1)),
    "adam_amsgrad_betas": (lambda: optim.adam(3e-2, b1=0.8, b2=0.95, eps=1e-6, amsgrad=True),
                           lambda ps: torch.optim.Adam(ps, lr=3e-2, betas=(0.8, 0.95), eps=1e-6, amsgrad=True)),
    "adamw": (lambda: optim.adamw(1e-2, weight_decay=0.1), lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1)),
    "adamw_default_decay": (lambda: optim.adamw(1e-2), lambda ps: torch.optim.AdamW(ps, lr=1e-2)),
    "sgd": (lambda: optim.sgd(0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
    "sgd_momentum": (lambda: optim.sgd(0.05, momentum=0.9), lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    "sgd_nesterov_wd": (lambda: optim.sgd(0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
                        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "sgd_dampening": (lambda: optim.sgd(0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
                      lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch_optim_float64(name):
    make_frl, make_torch = CASES[name]
    run_side_by_side(make_frl, make_torch, **F64)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd_nesterov_wd"])
def test_matches_torch_optim_float32(name):
    make_frl, make_torch = CASES[name]
    run_side_by_side(make_frl, make_torch, **F32)


@pytest.mark.parametrize("name", ["adam_amsgrad_betas", "adamw", "sgd_nesterov_wd", "sgd_dampening"])
def test_per_leaf_path_matches_torch_optim(monkeypatch, name):
    # Eagerly the transforms use foreach ops; under vmap, grad and compile they loop over leaves.
    # Force the loop here so that it, too, is checked against torch.optim directly.
    monkeypatch.setattr(_lists, "use_foreach", lambda *lists: False)
    make_frl, make_torch = CASES[name]
    run_side_by_side(make_frl, make_torch, **F64)


@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_clip_then_adam_matches_clip_grad_norm(dtype):
    # torch.optim.Adam computes its bias corrections in Python doubles, frl in float32 tensors; after
    # clipping, some gradients are near zero and m / sqrt(v) amplifies that last-bit difference to
    # ~1e-6 on one element by step 17 in float32, hence atol 1e-5 there (float64 stays exact).
    tol = F64 if dtype == "f64" else dict(F32, atol=1e-5)
    max_norm = 0.3
    norms = run_side_by_side(lambda: optim.chain(optim.clip_by_global_norm(max_norm), optim.adam(1e-2)),
                             lambda ps: torch.optim.Adam(ps, lr=1e-2), clip=max_norm, **tol)
    # The case means something only if some steps were clipped and some were not.
    assert any(n > max_norm for n in norms) and any(n < max_norm for n in norms), norms


def test_clip_by_global_norm_equals_clip_grad_norm_on_random_grads():
    gen = torch.Generator().manual_seed(3)
    for scale_ in (0.01, 1.0, 100.0):
        grads = TensorDict({"a": torch.randn(5, 4, generator=gen) * scale_, "b": {"c": torch.randn(7, generator=gen)}})
        tensors = [torch.zeros(5, 4, requires_grad=True), torch.zeros(7, requires_grad=True)]
        tensors[0].grad, tensors[1].grad = grads["a"].clone(), grads["b", "c"].clone()
        total = torch.nn.utils.clip_grad_norm_(tensors, 2.0)
        tensors = [t.grad for t in tensors]
        torch.testing.assert_close(optim.global_norm(grads), total, rtol=1e-6, atol=0)
        clipped, _ = optim.clip_by_global_norm(2.0).update(grads, optim.EmptyState())
        torch.testing.assert_close(clipped["a"], tensors[0], rtol=0, atol=0)
        torch.testing.assert_close(clipped["b", "c"], tensors[1], rtol=0, atol=0)


# Hand-written LambdaLR factors (base lr 1.0, so the factor is the lr), independent of frl's schedules.
def _cosine(step, init=3e-2, steps=15, alpha=0.1):
    t = min(step, steps) / steps
    return init * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * t)) + alpha)


def _warmup_cosine(step, init=0.0, peak=3e-2, warmup=5, total=15, end=1e-3):
    if step < warmup:
        return init + (peak - init) * step / warmup
    t = min(step - warmup, total - warmup) / (total - warmup)
    return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * t))


def _linear(step, init=0.1, end=0.01, steps=10, begin=4):
    return init + (end - init) * min(max(step - begin, 0) / steps, 1.0)


SCHEDULES = {
    "adam_cosine": (lambda: optim.adam(optim.cosine_decay_schedule(3e-2, 15, alpha=0.1)),
                    lambda ps: torch.optim.Adam(ps, lr=1.0), _cosine),
    "adamw_warmup_cosine": (lambda: optim.adamw(optim.warmup_cosine_decay_schedule(0.0, 3e-2, 5, 15, 1e-3)),
                            lambda ps: torch.optim.AdamW(ps, lr=1.0), _warmup_cosine),
    "sgd_momentum_linear": (lambda: optim.sgd(optim.linear_schedule(0.1, 0.01, 10, transition_begin=4), momentum=0.9),
                            lambda ps: torch.optim.SGD(ps, lr=1.0, momentum=0.9), _linear),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_lambda_lr(name):
    make_frl, make_torch, factor = SCHEDULES[name]
    # frl's schedules return float32 learning rates, so float64 params agree to float32 rounding of lr.
    run_side_by_side(make_frl, make_torch, dtype=torch.float64, rtol=1e-6, atol=1e-7,
                     scheduler=lambda o: torch.optim.lr_scheduler.LambdaLR(o, factor))
