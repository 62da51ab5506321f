"""frl.train.OffPolicyArgs: the off-policy examples' shared settings and their compile helper."""

import dataclasses

import torch

from frl.train import OffPolicyArgs

SCALE = 2.0  # a module global the compiled function reads


def _scaled(x):
    return torch.sin(x) * SCALE


def test_jit_is_the_identity_without_compile():
    assert OffPolicyArgs(compile=False).jit()(_scaled) is _scaled


def test_jit_compiles_whole_graphs_and_keeps_options_per_function():
    torch._dynamo.reset()
    jit = OffPolicyArgs().jit()
    f, g = jit(_scaled), jit(lambda x: x.cos() + 1)
    x = torch.linspace(-1, 1, 7)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(3):  # repeated calls neither break the graph nor recompile
            torch.testing.assert_close(f(x), _scaled(x))
            torch.testing.assert_close(g(x), x.cos() + 1)


def test_subclasses_change_defaults_and_add_fields():
    @dataclasses.dataclass
    class Args(OffPolicyArgs):
        total_frames: int = 500
        """frames"""
        policy_delay: int = 2
        """an algorithm's own field"""

    args = Args()
    assert (args.total_frames, args.policy_delay, args.gamma) == (500, 2, 0.99)
    names = [f.name for f in dataclasses.fields(Args)]
    assert names.index("total_frames") == 0 and names[-1] == "policy_delay"
