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


@njit(cache=True, error_model="numpy")
def clip_and_adam(params, grad, m, v, t, lr, max_grad_norm):
    """Clip `grad` in place to `max_grad_norm` (if > 0), then one Adam step; returns the norm before.

    params, grad, m, v: float32[P] (params, m, v updated in place); t: the step number (>= 1) of this
    step; lr: this iteration's learning rate.
    """
    norm = grad_norm(grad)
    if max_grad_norm > 0 and norm > max_grad_norm:
        scale = np.float32(max_grad_norm / (norm + 1e-6))
        for i in range(grad.shape[0]):
            grad[i] *= scale
    bc1 = 1.0 - 0.9 ** t
    bc2 = 1.0 - 0.999 ** t
    a = np.float32(lr / bc1)
    s = np.float32(math.sqrt(bc2))
    b1 = np.float32(0.9)
    b2 = np.float32(0.999)
    c1 = np.float32(0.1)
    c2 = np.float32(0.001)
    eps = np.float32(1e-8)
    tiny = _FLT_MIN
    zero = np.float32(0.0)
    for i in range(params.shape[0]):
        g = grad[i]
        mi = b1 * m[i] + c1 * g
        vi = b2 * v[i] + c2 * g * g
        # Flush subnormal moments: a unit whose gradient is exactly 0 (a dead ReLU) decays m into
        # subnormals within ~800 steps, and subnormal arithmetic made Adam 7x slower (results/profile.md).
        mi = zero if abs(mi) < tiny else mi
        vi = zero if vi < tiny else vi
        m[i] = mi
        v[i] = vi
        params[i] -= a * mi / (np.sqrt(vi) / s + eps)
    return norm
