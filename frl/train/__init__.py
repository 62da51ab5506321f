"""Train-step factories: pure ``update(params, opt_state, batch)`` functions to compile and vmap."""

from frl.train.grads import all_reduce_gradients
from frl.train.ppo import make_ppo_update
from frl.train.report import RunReport

__all__ = ["make_ppo_update", "all_reduce_gradients", "RunReport"]
