"""frl.train.compile_step: whole-graph compile, unguarded on module globals, one compile cache per function."""

import torch

import frl
from frl.train import compile_step

SCALE = 2.0  # a module global the compiled function reads


def _scaled(x):
    return torch.sin(x) * SCALE


def test_disabled_is_the_identity():
    assert compile_step(_scaled, enabled=False) is _scaled


def test_compiles_equals_eager_and_never_recompiles_over_steps():
    torch._dynamo.reset()
    f, g = compile_step(_scaled), compile_step(lambda x: x.cos() + 1)
    x = torch.linspace(-1, 1, 7)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for step in range(3):  # repeated calls with new values neither break the graph nor recompile
            torch.testing.assert_close(f(x + step), _scaled(x + step))
            torch.testing.assert_close(g(x + step), (x + step).cos() + 1)


def test_vmapped_pieces_each_keep_their_own_cache():
    # Every torch.vmap(f) is the same wrapper code: without a code object of its own, the second piece
    # would be a recompile of the first (and the pieces would evict each other's graphs).
    torch._dynamo.reset()
    add, mul = compile_step(torch.vmap(lambda a, b: a + b)), compile_step(torch.vmap(lambda a, b: a * b))
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(2):
            torch.testing.assert_close(add(a, b), a + b)
            torch.testing.assert_close(mul(a, b), a * b)


def test_a_training_step_compiled_equals_eager():
    net = frl.nn.mlp(3, 1, num_cells=(8,))
    opt = frl.optim.adam(1e-2)

    def step(params, opt_state, x):
        grads = torch.func.grad(lambda p: net.apply(p, x).pow(2).mean())(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return frl.optim.apply_updates(params, updates), opt_state

    params = net.init(frl.random.key(0))
    x = frl.random.normal(frl.random.key(1), (16, 3))
    torch._dynamo.reset()
    compiled = compile_step(step)
    p_e, s_e = params, opt.init(params)
    p_c, s_c = params, opt.init(params)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(3):
            p_e, s_e = step(p_e, s_e, x)
            p_c, s_c = compiled(p_c, s_c, x)
    assert frl.tree.tree_allclose(p_c, p_e, rtol=1e-5, atol=1e-6)


def test_pieces_with_different_shapes_stay_static():
    # dynamo's automatic-dynamic bookkeeping is keyed by the code's file, line and name: pieces that
    # shared them would see each other's shapes as one function's changing shapes, and be recompiled
    # with symbolic sizes (which batched linear layers under vmap cannot take).
    net = frl.nn.mlp(3, 2, num_cells=(4,))
    params = torch.vmap(net.init)(frl.random.split(frl.random.key(0), 2))
    torch._dynamo.reset()
    short = compile_step(torch.vmap(lambda p, x: net.apply(p, x)))
    long = compile_step(torch.vmap(lambda p, x: net.apply(p, x)))
    x8, x16 = frl.random.normal(frl.random.key(1), (2, 8, 3)), frl.random.normal(frl.random.key(2), (2, 8, 16, 3))
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(2):
            torch.testing.assert_close(short(params, x8), torch.vmap(net.apply)(params, x8))
            torch.testing.assert_close(long(params, x16), torch.vmap(net.apply)(params, x16))
