"""Batched forward and backward passes of both architectures (SPEC section 3).

mlp:    h_k = relu(W_k h_{k-1} + b_k), k = 0..L-1, h_{-1} = x.
resmlp: h_0 = W_in x + b_in; h_k = h_{k-1} + gelu(W_k LN_k(h_{k-1}) + b_k), k = 1..L-1; y = LN_out(h_{L-1}).
Heads:  logits = pi.W y + pi.b;  value = tanh(v.W y + v.b)  (kernels return the pre-tanh `vpre`).
GELU is the tanh approximation written through a sigmoid, x * sigmoid(k (x + 0.044715 x^3)), which
cannot overflow and avoids Numba's slow scalar tanh.

Every kernel works on the first n rows of caller-owned buffers (a `Workspace`); GEMMs go to BLAS
through `numbaplay.nn.blas`, elementwise work stays in plain loops in row order, so results do not
depend on the number of Numba threads.
"""
import math

import numpy as np
from numba import njit

from numbaplay.nn.blas import gemm_nn, gemm_nt, gemm_tn
from numbaplay.nn.params import MLP

GELU_K = np.float32(2.0 * math.sqrt(2.0 / math.pi))
GELU_C = np.float32(0.044715)
GELU_C3 = np.float32(0.134145)
LN_EPS = np.float32(1e-5)


class Workspace:
    """Activation buffers for up to `rows` rows of a network with spec (arch, obs, H, L, A)."""

    def __init__(self, spec_arr, rows: int):
        _, _, hid, depth, _ = (int(v) for v in spec_arr)
        self.rows = rows
        self.hs = np.zeros((depth, rows, hid), np.float32)   # layer outputs / residual stream
        self.us = np.zeros((depth, rows, hid), np.float32)   # LayerNorm outputs (resmlp)
        self.pre = np.zeros((depth, rows, hid), np.float32)  # pre-GELU activations (resmlp)
        self.xh = np.zeros((depth, rows, hid), np.float32)   # normalised x-hat (resmlp)
        self.rs = np.zeros((depth, rows), np.float32)        # 1 / sqrt(var + eps) (resmlp)
        self.dh = np.zeros((rows, hid), np.float32)          # backward scratch
        self.dt = np.zeros((rows, hid), np.float32)          # backward scratch


@njit(cache=True, inline="always", error_model="numpy")
def _sigmoid(z):
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-z))


@njit(cache=True, error_model="numpy")
def gelu(x):
    """GELU (tanh approximation) of a float32 scalar."""
    return x * _sigmoid(GELU_K * (x + GELU_C * x * x * x))


@njit(cache=True, error_model="numpy")
def gelu_grad(x):
    """d gelu / dx of a float32 scalar."""
    s = _sigmoid(GELU_K * (x + GELU_C * x * x * x))
    return s + x * s * (np.float32(1.0) - s) * GELU_K * (np.float32(1.0) + GELU_C3 * x * x)


@njit(cache=True, error_model="numpy")
def _add_bias(out, b, relu):
    n, h = out.shape
    for i in range(n):
        for j in range(h):
            v = out[i, j] + b[j]
            out[i, j] = v if (not relu or v > 0) else np.float32(0.0)


@njit(cache=True, error_model="numpy")
def _layernorm(y, xhat, rstd, x, g, b):
    """y = g (x - mu) / sqrt(var + eps) + b per row, two-pass statistics in float32."""
    n, h = x.shape
    inv_h = np.float32(1.0) / np.float32(h)
    for i in range(n):
        mu = np.float32(0.0)
        for j in range(h):
            mu += x[i, j]
        mu *= inv_h
        var = np.float32(0.0)
        for j in range(h):
            d = x[i, j] - mu
            var += d * d
        var *= inv_h
        r = np.float32(1.0) / np.sqrt(var + LN_EPS)
        rstd[i] = r
        for j in range(h):
            xv = (x[i, j] - mu) * r
            xhat[i, j] = xv
            y[i, j] = g[j] * xv + b[j]


@njit(cache=True, error_model="numpy")
def _layernorm_backward(dx, gg, gb, dy, xhat, rstd, g, accumulate):
    """Backward of _layernorm: dx (+)= ..., gg/gb (+)= parameter gradients."""
    n, h = dy.shape
    inv_h = np.float32(1.0) / np.float32(h)
    gg[:] = 0.0
    gb[:] = 0.0
    for i in range(n):  # row-major; each column still summed in row order
        for j in range(h):
            gg[j] += dy[i, j] * xhat[i, j]
            gb[j] += dy[i, j]
    for i in range(n):
        m1 = np.float32(0.0)
        m2 = np.float32(0.0)
        for j in range(h):
            d = dy[i, j] * g[j]
            m1 += d
            m2 += d * xhat[i, j]
        m1 *= inv_h
        m2 *= inv_h
        for j in range(h):
            v = rstd[i] * (dy[i, j] * g[j] - m1 - xhat[i, j] * m2)
            dx[i, j] = dx[i, j] + v if accumulate else v


@njit(cache=True, error_model="numpy")
def _col_sum(out, d):
    """out[j] = sum over rows of d[:, j], each column summed in row order (row-major traversal)."""
    n, h = d.shape
    out[:] = 0.0
    for i in range(n):
        for j in range(h):
            out[j] += d[i, j]


@njit(cache=True, error_model="numpy")
def _heads_start(spec, offs):
    if spec[0] == MLP:
        return 2 * spec[3]
    return 2 + 4 * (spec[3] - 1) + 2


@njit(cache=True, error_model="numpy")
def forward(params, spec, offs, x, n, hs, us, pre, xh, rs, logits, vpre):
    """Forward pass on rows 0..n-1.

    params: float32[P]; spec: int64[5]; offs: int64[T+1]; x: float32[>=n, obs];
    hs, us, pre, xh: float32[L, >=n, H]; rs: float32[L, >=n]; out logits: float32[>=n, A];
    out vpre: float32[>=n] (value before tanh).
    """
    obs_size, hid, depth, n_act = spec[1], spec[2], spec[3], spec[4]
    zero = np.float32(0.0)
    if spec[0] == MLP:
        for k in range(depth):
            fan_in = obs_size if k == 0 else hid
            w = params[offs[2 * k]:offs[2 * k + 1]].reshape(hid, fan_in)
            b = params[offs[2 * k + 1]:offs[2 * k + 2]]
            src = x[:n] if k == 0 else hs[k - 1, :n]
            gemm_nt(hs[k, :n], src, w, zero)
            _add_bias(hs[k, :n], b, True)
        y = hs[depth - 1, :n]
    else:
        w = params[offs[0]:offs[1]].reshape(hid, obs_size)
        gemm_nt(hs[0, :n], x[:n], w, zero)
        _add_bias(hs[0, :n], params[offs[1]:offs[2]], False)
        for k in range(1, depth):
            t = 2 + 4 * (k - 1)
            g = params[offs[t]:offs[t + 1]]
            bln = params[offs[t + 1]:offs[t + 2]]
            w = params[offs[t + 2]:offs[t + 3]].reshape(hid, hid)
            b = params[offs[t + 3]:offs[t + 4]]
            _layernorm(us[k - 1, :n], xh[k - 1, :n], rs[k - 1, :n], hs[k - 1, :n], g, bln)
            a = pre[k - 1, :n]
            gemm_nt(a, us[k - 1, :n], w, zero)
            _add_bias(a, b, False)
            for i in range(n):
                for j in range(hid):
                    hs[k, i, j] = hs[k - 1, i, j] + gelu(a[i, j])
        t = 2 + 4 * (depth - 1)
        _layernorm(us[depth - 1, :n], xh[depth - 1, :n], rs[depth - 1, :n], hs[depth - 1, :n],
                   params[offs[t]:offs[t + 1]], params[offs[t + 1]:offs[t + 2]])
        y = us[depth - 1, :n]
    t = _heads_start(spec, offs)
    pw = params[offs[t]:offs[t + 1]].reshape(n_act, hid)
    gemm_nt(logits[:n], y, pw, zero)
    _add_bias(logits[:n], params[offs[t + 1]:offs[t + 2]], False)
    vw = params[offs[t + 2]:offs[t + 3]]
    vb = params[offs[t + 3]]
    for i in range(n):
        s = np.float32(0.0)
        for j in range(hid):
            s += y[i, j] * vw[j]
        vpre[i] = s + vb


@njit(cache=True, error_model="numpy")
def backward(grad, params, spec, offs, x, n, hs, us, pre, xh, rs, dlogits, dvpre, dh, dt):
    """Gradient of a loss with respect to every parameter, given dL/dlogits and dL/dvpre.

    grad: float32[P] (overwritten); dlogits: float32[>=n, A]; dvpre: float32[>=n];
    dh, dt: float32[>=n, H] scratch; other arguments as in `forward` (its cache for these rows).
    resmlp reuses `pre` as scratch: run `forward` again before another `backward`.
    """
    obs_size, hid, depth, n_act = spec[1], spec[2], spec[3], spec[4]
    zero = np.float32(0.0)
    y = hs[depth - 1, :n] if spec[0] == MLP else us[depth - 1, :n]
    t = _heads_start(spec, offs)
    gemm_tn(grad[offs[t]:offs[t + 1]].reshape(n_act, hid), dlogits[:n], y, zero)
    _col_sum(grad[offs[t + 1]:offs[t + 2]], dlogits[:n])
    gvw = grad[offs[t + 2]:offs[t + 3]]
    vw = params[offs[t + 2]:offs[t + 3]]
    gvw[:] = 0.0
    for i in range(n):  # row-major; each column still summed in row order
        for j in range(hid):
            gvw[j] += dvpre[i] * y[i, j]
    s = np.float32(0.0)
    for i in range(n):
        s += dvpre[i]
    grad[offs[t + 3]] = s
    # dL/dy = dlogits pi.W + dvpre v.W
    d = dh[:n]
    gemm_nn(d, dlogits[:n], params[offs[t]:offs[t + 1]].reshape(n_act, hid), zero)
    for i in range(n):
        for j in range(hid):
            d[i, j] += dvpre[i] * vw[j]
    if spec[0] == MLP:
        for k in range(depth - 1, -1, -1):
            fan_in = obs_size if k == 0 else hid
            out = hs[k, :n]
            for i in range(n):
                for j in range(hid):
                    if out[i, j] <= 0:
                        d[i, j] = zero
            src = x[:n] if k == 0 else hs[k - 1, :n]
            gemm_tn(grad[offs[2 * k]:offs[2 * k + 1]].reshape(hid, fan_in), d, src, zero)
            _col_sum(grad[offs[2 * k + 1]:offs[2 * k + 2]], d)
            if k > 0:
                nxt = dt[:n]
                gemm_nn(nxt, d, params[offs[2 * k]:offs[2 * k + 1]].reshape(hid, fan_in), zero)
                d[:, :] = nxt
        return
    # resmlp: through LN_out, then the blocks from the top, then the input layer.
    t = 2 + 4 * (depth - 1)
    dx = dt[:n]
    _layernorm_backward(dx, grad[offs[t]:offs[t + 1]], grad[offs[t + 1]:offs[t + 2]], d,
                        xh[depth - 1, :n], rs[depth - 1, :n], params[offs[t]:offs[t + 1]], False)
    d[:, :] = dx  # d is now dL/dh_{L-1}
    for k in range(depth - 1, 0, -1):
        t = 2 + 4 * (k - 1)
        a = pre[k - 1, :n]
        da = dx  # reuse scratch: da = d * gelu'(a)
        for i in range(n):
            for j in range(hid):
                da[i, j] = d[i, j] * gelu_grad(a[i, j])
        w = params[offs[t + 2]:offs[t + 3]].reshape(hid, hid)
        gemm_tn(grad[offs[t + 2]:offs[t + 3]].reshape(hid, hid), da, us[k - 1, :n], zero)
        _col_sum(grad[offs[t + 3]:offs[t + 4]], da)
        # du = da W, written into pre[k-1] (no longer needed) to keep dt free.
        du = pre[k - 1, :n]
        gemm_nn(du, da, w, zero)
        _layernorm_backward(d, grad[offs[t]:offs[t + 1]], grad[offs[t + 1]:offs[t + 2]], du,
                            xh[k - 1, :n], rs[k - 1, :n], params[offs[t]:offs[t + 1]], True)
    gemm_tn(grad[offs[0]:offs[1]].reshape(hid, obs_size), d, x[:n], zero)
    _col_sum(grad[offs[1]:offs[2]], d)
