"""Counter-based random streams (SPEC section 5).

Draw n of stream (purpose, iteration, index) is a pure function of the run's seed, so every game, ply
and epoch has its own reproducible randomness whatever the thread count, and no kernel touches global
RNG state. `mix` is the SplitMix64 finalizer; all arithmetic is unsigned 64-bit and wraps.
"""
import numpy as np
from numba import njit

INIT = 1
OPPONENT = 2
LEARNER_ACTION = 3
OPPONENT_ACTION = 4
SHUFFLE = 5
EVAL = 6
CURRICULUM = 7

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_TWO_M53 = 1.0 / 9007199254740992.0


@njit(cache=True, inline="always")
def mix(z):
    """SplitMix64 finalizer of a uint64."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")  # callers pass literal purposes: inlined, not compiled once per purpose
def stream_key(seed, purpose, iteration, index):
    """Key of stream (purpose, iteration, index) of a run seeded with `seed`."""
    k = mix(np.uint64(seed))
    k = mix(k ^ np.uint64(purpose))
    k = mix(k ^ np.uint64(iteration))
    return mix(k ^ np.uint64(index))


@njit(cache=True, inline="always")
def key_draw(key, n):
    """Draw n (0-based) of the stream with this key, a uint64."""
    return mix(np.uint64(key) + (np.uint64(n) + _ONE) * _GOLDEN)


@njit(cache=True, inline="always")
def key_uniform(key, n):
    """Draw n as a float64 uniform in [0, 1)."""
    return np.float64(key_draw(key, n) >> _S11) * _TWO_M53


@njit(cache=True, inline="always")
def key_below(key, n, k):
    """Draw n as an integer in [0, k): min(floor(u k), k - 1)."""
    v = np.int64(key_uniform(key, n) * k)
    return min(v, k - 1)


@njit(cache=True)
def permutation(out, key):
    """Fisher-Yates permutation of len(out) from the stream `key` (SPEC section 5).

    out: int64[N], overwritten with a permutation of 0..N-1.
    """
    key = np.uint64(key)
    n_items = out.shape[0]
    for i in range(n_items):
        out[i] = i
    for i in range(n_items - 1, 0, -1):
        j = key_below(key, n_items - 1 - i, i + 1)
        tmp = out[i]
        out[i] = out[j]
        out[j] = tmp
