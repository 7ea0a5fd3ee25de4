"""Global gradient-norm clipping and Adam on the flat parameter vector (SPEC section 6)."""
import math

import numpy as np
from numba import njit

_FLT_MIN = np.float32(np.finfo(np.float32).tiny)  # smallest normal float32, 2^-126


@njit(cache=True, error_model="numpy")
def grad_norm(grad):
    """L2 norm of the whole flat gradient, sum of squares in float64 in parameter order."""
    s = 0.0
    for i in range(grad.shape[0]):
        g = np.float64(grad[i])
        s += g * g
    return math.sqrt(s)


# A prange over index-fixed chunks was measured slower (results/optimisations.jsonl): 117 parallel
# regions an iteration cost more than the ~0.15 ms of elementwise work each saves. Adam stays serial.


@njit(cache=True, error_model="numpy", inline="always")
def _adam_range(lo, hi, params, grad, m, v, scale, clip, a, s):
    b1 = np.float32(0.9)
    b2 = np.float32(0.999)
    c1 = np.float32(0.1)
    c2 = np.float32(0.001)
    eps = np.float32(1e-8)
    tiny = _FLT_MIN
    zero = np.float32(0.0)
    for i in range(lo, hi):
        g = grad[i] * scale if clip else grad[i]
        mi = b1 * m[i] + c1 * g
        vi = b2 * v[i] + c2 * g * g
        # Flush subnormal moments: a unit whose gradient is exactly 0 (a dead ReLU) decays m into
        # subnormals within ~800 steps, and subnormal arithmetic made Adam 7x slower (results/profile.md).
        mi = zero if abs(mi) < tiny else mi
        vi = zero if vi < tiny else vi
        m[i] = mi
        v[i] = vi
        params[i] -= a * mi / (np.sqrt(vi) / s + eps)


@njit(cache=True, error_model="numpy")
def clip_and_adam(params, grad, m, v, t, lr, max_grad_norm):
    """Clip the gradient to `max_grad_norm` (if > 0), then one Adam step; returns the norm before.

    params, grad, m, v: float32[P] (params, m, v updated in place; grad is left unclipped); t: the step
    number (>= 1) of this step; lr: this iteration's learning rate. The clipped gradient entry is
    `grad * float32(max_grad_norm / (norm + 1e-6))`, one float32 multiply.
    """
    norm = grad_norm(grad)
    clip = max_grad_norm > 0 and norm > max_grad_norm
    scale = np.float32(max_grad_norm / (norm + 1e-6)) if clip else np.float32(1.0)
    bc1 = 1.0 - 0.9 ** t
    bc2 = 1.0 - 0.999 ** t
    a = np.float32(lr / bc1)
    s = np.float32(math.sqrt(bc2))
    _adam_range(0, params.shape[0], params, grad, m, v, scale, clip, a, s)
    return norm
