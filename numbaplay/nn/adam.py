"""Global gradient-norm clipping and Adam on the flat parameter vector (SPEC section 6).

Both run over the parameters in chunks of `PARAM_CHUNK` entries on the Numba threads. The squared norm
is summed in float64 in an order fixed by the index alone (`chunk_sumsq`), so it is the same for any
thread count; Adam is elementwise, so its chunks cannot change a bit. Each chunk runs with subnormals
flushed to zero (`numbaplay.nn.fpenv`).
"""
import math

import numpy as np
from numba import njit, prange

from numbaplay.nn.fpenv import flush_enter, flush_exit
from numbaplay.nn.lanes import sumsq8
from numbaplay.nn.mathf import fma32
from numbaplay.nn.rows import PARAM_CHUNK, n_param_chunks
from numbaplay.omp import launch_threads

launch_threads()  # before any cached kernel loads (numbaplay/omp.py)

_FLT_MIN = np.float32(np.finfo(np.float32).tiny)  # smallest normal float32, 2^-126


@njit(cache=True, error_model="numpy")
def chunk_sumsq(g):
    """Sum of g^2 in float64: entry i adds to accumulator i mod 8 in index order, and the eight
    accumulators are added in order 0..7. Eight independent sums instead of one chain, the lanes of one
    vector (`numbaplay.nn.lanes.sumsq8`). g: a C-contiguous float32 vector."""
    return sumsq8(g)


@njit(cache=True, error_model="numpy")
def _add_into(g, gs):
    for i in range(g.shape[0]):
        g[i] += gs[i]


# Chunks are passed as slices: a loop over range(lo, hi) of the whole array did not vectorise (4x slower).
@njit(cache=True, error_model="numpy", inline="always")
def _combine_chunk(c, partial, grads, k):
    fp = flush_enter()
    lo = c * PARAM_CHUNK
    hi = min(lo + PARAM_CHUNK, grads.shape[1])
    for s in range(1, k):
        _add_into(grads[0, lo:hi], grads[s, lo:hi])
    partial[c] = chunk_sumsq(grads[0, lo:hi])
    flush_exit(fp)


@njit(cache=True, error_model="numpy", parallel=True)
def _combine_par(partial, grads, k):
    for c in prange(partial.shape[0]):
        _combine_chunk(c, partial, grads, k)


@njit(cache=True, error_model="numpy")
def combine_grad_norm(grads, k):
    """Sum the k shard gradients grads[0..k-1] into grads[0] (shard order) and return its L2 norm.

    The norm is sqrt of the chunk sums (`chunk_sumsq` over chunks of PARAM_CHUNK entries) added in
    chunk order in float64.
    """
    partial = np.empty(n_param_chunks(grads.shape[1]), dtype=np.float64)
    if partial.shape[0] == 1:
        _combine_chunk(0, partial, grads, k)
    else:
        _combine_par(partial, grads, k)
    total = 0.0
    for c in range(partial.shape[0]):
        total += partial[c]
    return math.sqrt(total)


@njit(cache=True, error_model="numpy")
def grad_norm(grad):
    """L2 norm of the whole flat gradient float32[P] (the order of `combine_grad_norm`)."""
    return combine_grad_norm(grad.reshape(1, grad.shape[0]), 1)


@njit(cache=True, error_model="numpy", inline="always")
def _div_by(x, s, s_inv):
    """x / s, correctly rounded, without a division: q = x s_inv, then one correction step
    q + (x - q s) s_inv, both fused (Markstein's theorem: with s_inv = RN(1/s) and q within an ulp of x / s,
    the corrected q is RN(x / s) unless x - q s underflows). Adam calls it with x = sqrt(v), 0 or at least
    2^-63 (v below 2^-126 is flushed to 0), and s = sqrt(bc2) in (0.03, 1], where nothing underflows;
    tests/test_kernels.py checks it against x / s bit for bit. A division takes the divider about as
    long as a square root, and the Adam step had three of them per parameter; it runs from the cores'
    caches in the mlp update, where they made it the slowest loop."""
    q = x * s_inv
    return fma32(fma32(-q, s, x), s_inv, q)


@njit(cache=True, error_model="numpy")
def _adam_range(params, grad, m, v, scale, clip, a, s):
    b1 = np.float32(0.9)
    b2 = np.float32(0.999)
    c1 = np.float32(0.1)
    c2 = np.float32(0.001)
    eps = np.float32(1e-8)
    tiny = _FLT_MIN
    zero = np.float32(0.0)
    s_inv = np.float32(1.0) / s  # the float32 reciprocal of s, correctly rounded
    fp = flush_enter()
    for i in range(params.shape[0]):
        g = grad[i] * scale if clip else grad[i]
        mi = b1 * m[i] + c1 * g
        vi = b2 * v[i] + c2 * g * g
        # Flush subnormal moments: a unit whose gradient is exactly 0 (a dead ReLU) decays m into
        # subnormals within ~800 steps, and subnormal arithmetic made Adam 7x slower (results/profile.md).
        mi = zero if abs(mi) < tiny else mi
        vi = zero if vi < tiny else vi
        m[i] = mi
        v[i] = vi
        params[i] -= a * mi / (_div_by(np.sqrt(vi), s, s_inv) + eps)
    flush_exit(fp)


@njit(cache=True, error_model="numpy", parallel=True)
def _adam_par(params, grad, m, v, scale, clip, a, s):
    p = params.shape[0]
    for c in prange(n_param_chunks(p)):
        lo = c * PARAM_CHUNK
        hi = min(lo + PARAM_CHUNK, p)
        _adam_range(params[lo:hi], grad[lo:hi], m[lo:hi], v[lo:hi], scale, clip, a, s)


@njit(cache=True, error_model="numpy")
def adam_coefs(t, lr, max_grad_norm, norm):
    """(clip, scale, a, s) of Adam step t: whether to clip, the float32 clip factor, float32(lr / bc1)
    and float32(sqrt(bc2))."""
    clip = max_grad_norm > 0 and norm > max_grad_norm
    scale = np.float32(max_grad_norm / (norm + 1e-6)) if clip else np.float32(1.0)
    bc1 = 1.0 - 0.9 ** t
    bc2 = 1.0 - 0.999 ** t
    return clip, scale, np.float32(lr / bc1), np.float32(math.sqrt(bc2))


@njit(cache=True, error_model="numpy")
def adam_pieces(params, grad, m, v, pieces, clip, scale, a, s):
    """The Adam step (`adam_coefs`) on the ranges [pieces[i, 0], pieces[i, 1]) of the flat vectors."""
    for i in range(pieces.shape[0]):
        lo, hi = pieces[i, 0], pieces[i, 1]
        _adam_range(params[lo:hi], grad[lo:hi], m[lo:hi], v[lo:hi], scale, clip, a, s)


@njit(cache=True, error_model="numpy")
def adam_step(params, grad, m, v, t, lr, max_grad_norm, norm):
    """Clip with the given norm of `grad` (if max_grad_norm > 0 and norm exceeds it), then one Adam step.

    params, grad, m, v: float32[P] (params, m, v updated in place; grad is left unclipped); t: the step
    number (>= 1) of this step; lr: this iteration's learning rate. The clipped gradient entry is
    `grad * float32(max_grad_norm / (norm + 1e-6))`, one float32 multiply.
    """
    clip, scale, a, s = adam_coefs(t, lr, max_grad_norm, norm)
    if n_param_chunks(params.shape[0]) == 1:
        _adam_range(params, grad, m, v, scale, clip, a, s)
    else:
        _adam_par(params, grad, m, v, scale, clip, a, s)


@njit(cache=True, error_model="numpy")
def clip_and_adam(params, grad, m, v, t, lr, max_grad_norm):
    """`grad_norm`, then `adam_step` with it; returns the norm before clipping."""
    norm = grad_norm(grad)
    adam_step(params, grad, m, v, t, lr, max_grad_norm, norm)
    return norm
