"""Explicit, splittable, counter-based randomness (JAX-style keys) in plain torch ops.

frl never touches torch's global generator. Every function that draws random numbers takes a *key*:
an int64 tensor of shape ``[2]`` holding two 32-bit words. A key is split into independent keys with
`split`, and numbers are drawn from it with `uniform`, `normal`, `randint`, `categorical` and friends.
Because a key is an ordinary tensor:

* the same key always gives the same numbers. Eager and compiled code even agree with each other:
  integers and uniforms bit for bit (the same integer arithmetic), normals and Gumbels to within
  an ulp or two (compiled code uses other log / cos implementations);
* a key travels inside TensorDicts, checkpoints and optimizer-like state, so a resumed run continues
  exactly where it stopped;
* ``torch.func.vmap`` over a batch of keys ``[N, 2]`` gives every ensemble member its own stream;
* ``torch.compile(fullgraph=True)`` fuses the whole generator into the surrounding kernel.

The generator is a keyed pseudo-random permutation of a 64-bit counter: a 4-round Feistel network
whose round function is a 32-bit integer hash (the "lowbias32" family of Chris Wellons). Compiled,
it runs on int32 lanes: products wrap modulo 2**32 and shifts are masked to act as unsigned ones,
which vectorizes with native 32-bit instructions in inductor's C++ and in Triton (twice as many
lanes as int64). Small draws (a key split in two, a reset state of a few numbers) are then unrolled
over their counters, so that a vmap over many keys vectorizes along the keys. Eagerly, where each
op is a kernel call, it runs on int64 lanes holding [0, 2**32), which needs fewer ops. Both give
the same numbers bit for bit.
It has good statistical quality for simulation and learning; it is not cryptographic.

Example:
    >>> from frl import random as fr  # the one alias of frl.random
    >>> key = fr.key(0)
    >>> k_init, k_noise = fr.split(key)
    >>> fr.normal(k_noise, (3,)).shape
    torch.Size([3])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from frl._checks import check_key
from frl._compat import is_functorch_wrapped

__all__ = [
    "key",
    "split",
    "fold_in",
    "bits",
    "uniform",
    "normal",
    "randint",
    "bernoulli",
    "categorical",
    "gumbel",
    "permutation",
    "is_key",
]

_MASK = 0xFFFFFFFF
# Domain separation: draws, splits and fold-ins use different high counter words, so the numbers
# drawn from a key never coincide with the keys split from it.
_DRAW, _SPLIT, _FOLD = 0, 0x5BD1E995, 0x1B873593
# Constants of the round keys and of seeding (the fractional bits of sqrt(2) and sqrt(3)).
_ROUND_SALT = 0x6A09E667
_SEED_KEY = (0x3C6EF372, 0xBB67AE85)
# Counts of counters up to this are unrolled into separate [batch] lanes (see `_words`).
_UNROLL = 4


def _i32(c: int) -> int:
    """A Python int in [0, 2**32) as the int32 value with the same bits."""
    c &= _MASK
    return c - (1 << 32) if c >= (1 << 31) else c


def _lanes() -> torch.dtype:
    """The dtype the generator computes in: int32 lanes while compiling, int64 eagerly.

    Both give the same words bit for bit. Compiled, int32 lanes vectorize twice as wide with native
    products; eagerly, each op is a kernel call and int64 (values in [0, 2**32)) needs fewer of them
    (no conversions of the int64 keys, no masks after the shifts).
    """
    return torch.int32 if torch.compiler.is_compiling() else torch.int64


def _const(c: int, lanes: torch.dtype) -> int:
    return _i32(c) if lanes == torch.int32 else c & _MASK


def _u32(w: torch.Tensor) -> torch.Tensor:
    """Words as int64 in [0, 2**32) (the key and `bits` format)."""
    return w if w.dtype == torch.int64 else w.to(torch.int64) & _MASK


def _hash32(x: torch.Tensor | int) -> torch.Tensor | int:
    if isinstance(x, int) or x.dtype == torch.int64:
        # Eager lanes hold [0, 2**32): the multipliers are below 2**31, so products fit in int64.
        x = x ^ (x >> 16)
        x = (x * 0x21F0AAAD) & _MASK
        x = x ^ (x >> 15)
        x = (x * 0x735A2D97) & _MASK
        return x ^ (x >> 15)
    # A bijective 32-bit mixer on int32 lanes. Products wrap modulo 2**32 (two's complement, as
    # torch's eager kernels, inductor's C++ and Triton all compute them); `>>` is arithmetic on
    # int32, so the mask makes it the logical shift of the unsigned word.
    # The multipliers are int32 tensors, not Python ints: compiling a vmapped `int32 * int` rounds the
    # int through float32 (torch 2.13: 0x21F0AAAD became 0x21F0AAC0).
    m1 = torch.tensor(0x21F0AAAD, dtype=torch.int32, device=x.device)
    m2 = torch.tensor(0x735A2D97, dtype=torch.int32, device=x.device)
    x = x ^ ((x >> 16) & 0xFFFF)
    x = x * m1
    x = x ^ ((x >> 15) & 0x1FFFF)
    x = x * m2
    return x ^ ((x >> 15) & 0x1FFFF)


def _permute(k0, k1, lo, hi) -> tuple[Any, Any]:
    """Keyed permutation of the 64-bit block (lo, hi): 4 Feistel rounds with round keys from (k0, k1).

    The arguments are tensors in `_lanes` or Python ints (ints only on the host path, `_words_on_host`);
    the two words returned are tensors where any argument is one, ints otherwise.
    """
    round_keys = (k0, k1, k0 ^ _ROUND_SALT, k1 ^ _ROUND_SALT)
    left, right = lo, hi
    for rk in round_keys:
        left, right = right, left ^ _hash32(right ^ rk)
    return left, right


def is_key(x) -> bool:
    return isinstance(x, torch.Tensor) and x.dtype == torch.int64 and x.shape[-1:] == (2,)


def key(seed: int | torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """Make a key from an integer seed (any Python int, or an int64 tensor of shape [] for vmap).

    Returns:
        int64 tensor of shape [2].
    """
    lanes = _lanes()
    if isinstance(seed, torch.Tensor):
        s = seed.to(torch.int64)
        lo, hi = (s & _MASK).to(lanes), ((s >> 32) & _MASK).to(lanes)
    else:
        seed = int(seed) & ((1 << 64) - 1)
        lo = torch.tensor(_const(seed, lanes), dtype=lanes, device=device)
        hi = torch.tensor(_const(seed >> 32, lanes), dtype=lanes, device=device)
    k0, k1 = _permute(_const(_SEED_KEY[0], lanes), _const(_SEED_KEY[1], lanes), lo, hi)
    return torch.stack([_u32(k0), _u32(k1)], dim=-1)


def _xor_all(values) -> int:
    out = 0
    for v in values:
        out ^= v & _MASK
    return out


# 56 constants whose XOR is 0: XOR-ing a word with all of them is the identity (see `_key_words`).
_PAD = tuple(_i32(0x9E3779B9 * (i + 1)) for i in range(55))
_PAD = _PAD + (_i32(_xor_all(_PAD)),)


def _key_words(k: torch.Tensor):
    """The two words of a key [2] as scalars in `_lanes` (batched under vmap).

    Eagerly the int64 words themselves. Compiling, int32 words that pass through `_PAD`'s identity
    XORs: a hint for inductor's CPU backend, which inlines an elementwise value into each of its
    users unless it counts more than 50 ops
    (``realize_cpu_opcount_threshold``). Without the padding, each of the hundreds of inlined uses
    of a key word reloads it from the ``[N, 2]`` key tensor with stride 2, and inductor's tiling
    heuristic (non-contiguous loads above 35 or 12% of a kernel's ops) then leaves every kernel
    that draws random numbers unvectorized, about half as fast. With it, the key words are stored
    once in contiguous buffers. The XORs cost little next to the generator's rounds.
    """
    if _lanes() == torch.int64:
        return k[0], k[1]
    k32 = k.to(torch.int32)  # words in [0, 2**32) wrap onto int32 with the same bits
    k0, k1 = k32[0], k32[1]
    for c in _PAD:
        k0, k1 = k0 ^ c, k1 ^ c
    return k0, k1


# Eager draws of at most this many counters from one unbatched CPU key run on Python ints.
_HOST_MAX = 8


def _on_host(k: torch.Tensor, n: int) -> bool:
    """Whether to compute a small eager draw with Python ints (`_words_on_host`) instead of tensors.

    Eagerly, every tensor op of the generator is a kernel call of a few microseconds on a handful of
    values: one action for one host env took ~300 us. The same words from Python ints take ~10 us.
    """
    return (n <= _HOST_MAX and k.dim() == 1 and k.device.type == "cpu" and not torch.compiler.is_compiling()
            and not is_functorch_wrapped(k))


def _words_on_host(k: torch.Tensor, n: int, domain: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`_words` of one CPU key, computed with Python ints (the eager int64 arithmetic, bit for bit)."""
    k0, k1 = k.tolist()
    pairs = [_permute(k0, k1, c, domain & _MASK) for c in range(n)]
    return (torch.tensor([p[0] for p in pairs], dtype=torch.int64),
            torch.tensor([p[1] for p in pairs], dtype=torch.int64))


_Words = tuple[torch.Tensor, torch.Tensor] | tuple[list[torch.Tensor], list[torch.Tensor]]


def _words(k: torch.Tensor, n: int, domain: int) -> _Words:
    """Two independent 32-bit words (in `_lanes`) for each of the counters 0..n-1 of ``k`` in ``domain``.

    Returns ``(w0, w1)``: two lists of ``n`` tensors of the key's shape when compiling and
    ``n <= _UNROLL``, otherwise two tensors [n]. Small draws (a key split in two, an env's reset state) are
    unrolled over Python-int counters: each counter is then an elementwise computation over the
    batch of keys (under vmap), which inductor vectorizes along the batch. With an ``arange``
    counter it vectorizes along the tiny counter dimension instead, using 2 of 16 lanes.
    """
    if _on_host(k, n):
        return _words_on_host(k, n, domain)
    k0, k1 = _key_words(k)
    lanes = k0.dtype
    domain = _const(domain, lanes)
    # Only while compiling: eagerly, each unrolled counter would be a separate run of ~60 small kernels.
    if 0 < n <= _UNROLL and torch.compiler.is_compiling():
        pairs = [_permute(k0, k1, c, domain) for c in range(n)]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    counter = torch.arange(n, dtype=lanes, device=k.device)
    return _permute(k0, k1, counter, domain)


def _stack(words: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(words, dim=-1) if isinstance(words, list) else words


def _bits32(k: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` uniform 32-bit words [n] (in `_lanes`): the first word of each of the counters 0..n-1."""
    return _stack(_words(k, n, _DRAW)[0])


def split(k: torch.Tensor, num: int = 2) -> torch.Tensor:
    """Split a key into ``num`` new independent keys, shape [num, 2]. Do not draw from ``k`` afterwards.

    Unpack as ``k1, k2 = frl.random.split(k)``.
    """
    check_key("frl.random.split", k)
    w0, w1 = _words(k, num, _SPLIT)
    if isinstance(w0, list) and isinstance(w1, list):
        return torch.stack([torch.stack([_u32(a), _u32(b)], dim=-1) for a, b in zip(w0, w1, strict=True)], dim=-2)
    # Tensors [n] here (`_stack` returns a tensor as it is).
    return torch.stack([_u32(_stack(w0)), _u32(_stack(w1))], dim=-1)


def fold_in(k: torch.Tensor, data: int | torch.Tensor) -> torch.Tensor:
    """A new key that depends on ``k`` and on an integer ``data`` (a step count, an env index)."""
    check_key("frl.random.fold_in", k)
    k0, k1 = _key_words(k)
    if isinstance(data, torch.Tensor):
        d = data.to(device=k.device, dtype=torch.int64)
        lo, hi = (d & _MASK).to(k0.dtype), (((d >> 32) & _MASK) ^ _FOLD).to(k0.dtype)
    else:
        d = int(data) & ((1 << 64) - 1)
        lo, hi = _const(d, k0.dtype), _const((d >> 32) ^ _FOLD, k0.dtype)
    w0, w1 = _permute(k0, k1, lo, hi)
    return torch.stack([_u32(w0), _u32(w1)], dim=-1)


def _shape(shape) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)


def bits(k: torch.Tensor, shape: Sequence[int] | int = ()) -> torch.Tensor:
    """Uniform random 32-bit integers in [0, 2**32), as int64 of ``shape``."""
    check_key("frl.random.bits", k)
    shape = _shape(shape)
    return _u32(_bits32(k, math.prod(shape))).reshape(shape)


def _unit(word: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # The top 24 bits give every float32 in [0, 1) on a grid of 2**-24: exact, never 1.0.
    return ((word >> 8) & 0xFFFFFF).to(dtype) * (1.0 / (1 << 24))


def uniform(k: torch.Tensor, shape: Sequence[int] | int = (), dtype: torch.dtype = torch.float32,
            low: float | torch.Tensor = 0.0, high: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Uniform floats in [low, high). float64 draws use 53 random bits, other dtypes 24."""
    check_key("frl.random.uniform", k)
    return _uniform(k, shape, dtype, low, high)


def _uniform(k: torch.Tensor, shape: Sequence[int] | int = (), dtype: torch.dtype = torch.float32,
             low: float | torch.Tensor = 0.0, high: float | torch.Tensor = 1.0) -> torch.Tensor:
    """`uniform` without the key check: the public draws built on it check the key under their own name."""
    shape = _shape(shape)
    n = math.prod(shape)
    if dtype == torch.float64:
        # 53 bits: 32 from one word and 21 from the other.
        w0, w1 = (_stack(w) for w in _words(k, n, _DRAW))
        u = (_u32(w0).to(torch.float64) * 2.0**21 + ((w1 >> 11) & 0x1FFFFF).to(torch.float64)) * 2.0**-53
    else:
        u = _unit(_bits32(k, n), torch.float32).to(dtype)
    u = u.reshape(shape)
    if not (isinstance(low, float) and isinstance(high, float) and low == 0.0 and high == 1.0):
        u = low + (high - low) * u
    return u


def normal(k: torch.Tensor, shape: Sequence[int] | int = (), dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal floats (Box-Muller on the two words of each counter)."""
    check_key("frl.random.normal", k)
    shape = _shape(shape)
    w0, w1 = (_stack(w) for w in _words(k, math.prod(shape), _DRAW))
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    u1 = (((w0 >> 8) & 0xFFFFFF) + 1).to(compute) * (1.0 / (1 << 24))  # in (0, 1]: log(u1) is finite
    u2 = _unit(w1, compute)
    z = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos((2.0 * math.pi) * u2)
    return z.reshape(shape).to(dtype)


def randint(k: torch.Tensor, shape: Sequence[int] | int, low: int | torch.Tensor,
            high: int | torch.Tensor) -> torch.Tensor:
    """Uniform integers in [low, high), int64. ``high - low`` must be at most 2**31."""
    check_key("frl.random.randint", k)
    shape = _shape(shape)
    w = _u32(_bits32(k, math.prod(shape)))
    # Lemire's multiply-shift maps a 32-bit word onto [0, n) with a bias below n / 2**32.
    n = torch.as_tensor(high, device=k.device) - low
    return low + ((w.reshape(shape) * n) >> 32)


def bernoulli(k: torch.Tensor, p: float | torch.Tensor, shape: Sequence[int] | int | None = None) -> torch.Tensor:
    """Booleans that are True with probability ``p`` (``shape`` defaults to ``p``'s shape)."""
    check_key("frl.random.bernoulli", k)
    if shape is None:
        shape = torch.as_tensor(p).shape
    return _uniform(k, shape) < p


def gumbel(k: torch.Tensor, shape: Sequence[int] | int = (), dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard Gumbel noise, -log(-log(u)) with u in (0, 1)."""
    check_key("frl.random.gumbel", k)
    return _gumbel(k, shape, dtype)


def _gumbel(k: torch.Tensor, shape: Sequence[int] | int = (), dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`gumbel` without the key check."""
    u = _uniform(k, shape, torch.float32)
    # Shift u off 0 by half a grid step so both logs stay finite.
    u = u + 0.5 / (1 << 24)
    return (-torch.log(-torch.log(u))).to(dtype)


def categorical(k: torch.Tensor, logits: torch.Tensor, shape: Sequence[int] | None = None) -> torch.Tensor:
    """Sample indices from unnormalized ``logits`` [..., n] by the Gumbel-max trick. Returns int64 [...]."""
    check_key("frl.random.categorical", k)
    batch = tuple(logits.shape[:-1]) if shape is None else _shape(shape)
    g = _gumbel(k, batch + (logits.shape[-1],), torch.float32)
    return torch.argmax(logits.float() + g, dim=-1)


def permutation(k: torch.Tensor, n: int) -> torch.Tensor:
    """A uniformly random permutation of range(n), int64."""
    check_key("frl.random.permutation", k)
    # Sorting n distinct-with-high-probability 64-bit keys (ties are broken by position).
    w0, w1 = (_u32(_stack(w)) for w in _words(k, n, _DRAW))
    return torch.argsort((w0 << 31) | (w1 >> 1), stable=True)
