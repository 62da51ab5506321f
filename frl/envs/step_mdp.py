"""step_mdp: turn the output of a step into the input of the next one, as TorchRL's ``step_mdp``."""

from __future__ import annotations

from tensordict import TensorDict, TensorDictBase

from frl._checks import check_keys

__all__ = ["step_mdp"]

_DONE_KEYS = ("done", "terminated", "truncated")


def merge_entries(root: TensorDictBase | None, nxt: TensorDictBase, drop: set) -> dict:
    """The entries of the next step's input: ``root``'s (if given) overwritten by ``nxt``'s, less ``drop``.

    Shared with the host adapters (`frl/envs/_host.py`), which build the same layout without checks.
    """
    out = {}
    for k, v in (root.items() if root is not None else ()):
        if k == "next" or k in drop:
            continue
        if k in nxt.keys():
            w = nxt.get(k)
            # Nested entries that both levels have (e.g. ("agents", ...)) are merged key by key.
            if isinstance(v, TensorDictBase) and isinstance(w, TensorDictBase):
                out[k] = TensorDict(merge_entries(v, w, drop), batch_size=w.batch_size)
            continue
        out[k] = v
    for k, w in nxt.items():
        if k in drop or k in out:
            continue
        out[k] = w
    return out


def step_mdp(td: TensorDictBase, *, keep_other: bool = True, exclude_reward: bool = True,
             exclude_done: bool = False, exclude_action: bool = True) -> TensorDict:
    """Move the ``("next", ...)`` entries of a stepped TensorDict to its root.

    The entries of ``"next"`` replace the root entries of the same name; the root's other entries
    (the policy's recurrent state, anything the env does not write) are kept when ``keep_other``; the
    action and reward are dropped by default. Same defaults and semantics as TorchRL's ``step_mdp``.

    Args:
        td: TensorDict [*B] with a ``"next"`` sub-TensorDict (the output of ``env.step``).
        keep_other: keep the root entries that ``"next"`` lacks.
        exclude_reward: drop ``"reward"`` (root and next) from the result.
        exclude_done: drop ``"done"`` / ``"terminated"`` / ``"truncated"`` from the result.
        exclude_action: drop the root's ``"action"``.

    Returns:
        A new TensorDict [*B]; ``td`` is not modified (the tensors are shared, not copied).

    Example:
        >>> td = env.step(td.set("action", a))
        >>> td = frl.envs.step_mdp(td)   # td["observation"] is the old td["next", "observation"]

    References:
        TorchRL, ``torchrl.envs.utils.step_mdp``.
    """
    check_keys("frl.envs.step_mdp", td, ("next",))
    nxt = td.get("next")
    drop = set()
    if exclude_reward:
        drop.add("reward")
    if exclude_done:
        drop.update(_DONE_KEYS)
    if exclude_action:
        drop.add("action")
    out = merge_entries(td if keep_other else None, nxt, drop)
    return TensorDict(out, batch_size=td.batch_size, device=td.device)
