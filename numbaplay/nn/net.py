"""Batched forward and backward passes of both architectures (SPEC section 3).

mlp:    h_k = relu(W_k h_{k-1} + b_k), k = 0..L-1, h_{-1} = x.
resmlp: h_0 = W_in x + b_in; h_k = h_{k-1} + gelu(W_k LN_k(h_{k-1}) + b_k), k = 1..L-1; y = LN_out(h_{L-1}).
Heads:  logits = pi.W y + pi.b;  value = tanh(v.W y + v.b)  (kernels return the pre-tanh `vpre`).
GELU is the tanh approximation written through a sigmoid, x * sigmoid(k (x + 0.044715 x^3)), which
cannot overflow and avoids Numba's slow scalar tanh; its exponential is `numbaplay.nn.mathf.exp32`, so
the loops over a row vectorise, and its multiply-adds are fused (`numbaplay.nn.mathf.fma32`).

An mlp forward of a few rows with wide layers computes each layer feature-major, W h^T, and keeps h for
the backward (`feature_major`). Every kernel works on rows r0..r0+n-1 of caller-owned buffers (a
`Workspace`; `forward` and `backward` on the first n); GEMMs go to BLAS through `numbaplay.nn.blas`,
elementwise work stays in plain loops in row order. `forward_nets` (and `forward_pieces`,
`backward_shards` on top of it and its twin) run pieces of rows fixed by `numbaplay.nn.rows` on the Numba
threads, each piece its own single-threaded BLAS calls, so results do not depend on the number of Numba
threads.
"""
import math

import numpy as np
from numba import njit, prange

from numbaplay.nn.blas import gemm_nn, gemm_nt, gemm_tn
from numbaplay.nn.fpenv import flush_enter, flush_exit
from numbaplay.nn.lanes import dot8, sumsq8
from numbaplay.nn.mathf import exp32, fma32
from numbaplay.nn.params import MLP
from numbaplay.nn.rows import copy_row, job_cuts, unit_cuts
from numbaplay.nn.sync import aligned_zeros
from numbaplay.omp import launch_threads

launch_threads()  # before any cached kernel loads (numbaplay/omp.py)

GELU_K = np.float32(2.0 * math.sqrt(2.0 / math.pi))
GELU_C = np.float32(0.044715)
GELU_C3 = np.float32(0.134145)
LN_EPS = np.float32(1e-5)


# An mlp forward of n rows runs feature-major (`forward_at`) when hidden >= FM_MIN_HIDDEN and n <= FM_MAX_ROWS.
# With weights stored (out, in), the row-major form x W^T makes BLAS pack a transposed copy of W on every
# call, which at a few rows costs more than the product; W x^T does not. Measured on this 2-core machine
# (bench_update_scaling, bench_threads, alternating runs): ttt-seed's (hidden 256) update with 32-row shards
# faster; with every mlp forward feature-major, the tictactoe preset's (hidden 128) update and rollout and
# ttt-seed's rollout (pieces of up to 128 rows) slower (docs/ALGORITHM.md).
FM_MIN_HIDDEN = 256
FM_MAX_ROWS = 64


@njit(cache=True, inline="always")
def feature_major(hid, n):
    """Whether an mlp forward of n rows with `hid` units a layer runs feature-major (FM_MIN_HIDDEN, FM_MAX_ROWS)."""
    return hid >= FM_MIN_HIDDEN and n <= FM_MAX_ROWS


class Workspace:
    """Activation buffers for up to `rows` rows of a network with spec (arch, obs, H, L, A).

    inference: buffers for forward passes only, two layers deep whatever L (`compact`): each layer's
    activations overwrite the ones two layers back, which no forward reads again. A rollout's forward
    then writes a sixth of the memory for the six-layer `c4-seed` network (16 MB instead of 50 MB for
    2,048 rows), and a piece's activations stay in the core's cache with the weights."""

    def __init__(self, spec_arr, rows: int, inference: bool = False):
        _, _, hid, depth, _ = (int(v) for v in spec_arr)
        self.rows = rows
        if inference:
            depth = min(depth, 2)
        z = aligned_zeros  # each buffer on its own cache lines: threads write different rows of them
        self.hs = z((depth, rows, hid))    # mlp: layer outputs; resmlp: stream, sigmoids
        self.us = z((depth, rows, hid))    # resmlp: LayerNorm outputs; mlp update: dL/d pre-activation
        self.pre = z((depth, rows, hid))   # pre-GELU activations (resmlp); feature-major layers (mlp)
        self.xh = z((depth, rows, hid))    # normalised x-hat (resmlp)
        self.rs = z((depth, rows))         # 1 / sqrt(var + eps) (resmlp)
        self.dh = z((rows, hid))           # backward scratch
        self.dt = z((rows, hid))           # backward scratch


@njit(cache=True, inline="always", error_model="numpy")
def _sigmoid(z):
    return np.float32(1.0) / (np.float32(1.0) + exp32(-z))


@njit(cache=True, error_model="numpy", inline="always")
def gelu_sigmoid(x):
    """The sigmoid inside GELU (tanh approximation): gelu(x) = x * gelu_sigmoid(x), float32, with
    k (x + 0.044715 x^3) formed as k * fma(0.044715 x x, x, x)."""
    return _sigmoid(GELU_K * fma32(GELU_C * x * x, x, x))


@njit(cache=True, error_model="numpy", inline="always")
def gelu_grad_from_sigmoid(x, s):
    """d gelu / dx at x, given s = gelu_sigmoid(x) (kept by the forward), float32:
    fma(x s (1 - s) k, fma(0.134145 x, x, 1), s)."""
    return fma32(x * s * (np.float32(1.0) - s) * GELU_K, fma32(GELU_C3 * x, x, np.float32(1.0)), s)


@njit(cache=True, error_model="numpy")
def _bias_gelu_row(h, sg, a, b):
    for j in range(a.shape[0]):
        v = a[j] + b[j]
        a[j] = v
        sv = gelu_sigmoid(v)
        sg[j] = sv
        h[j] = fma32(v, sv, h[j])


@njit(cache=True, error_model="numpy")
def _bias_residual_gelu(h, sg, a, b):
    """a += b (kept: the pre-activation), sg = the sigmoid inside gelu(a), h += gelu(a) = a * sg, on
    float32[n, H] arrays a row at a time (vectorised); the backward reads sg instead of computing the
    exponential again."""
    for i in range(a.shape[0]):
        _bias_gelu_row(h[i], sg[i], a[i], b)


@njit(cache=True, error_model="numpy")
def _gelu_grad_row(out, d, a, sg):
    for j in range(a.shape[0]):
        out[j] = d[j] * gelu_grad_from_sigmoid(a[j], sg[j])


@njit(cache=True, error_model="numpy")
def _add_row(acc, v):
    for j in range(acc.shape[0]):
        acc[j] += v[j]


@njit(cache=True, error_model="numpy")
def _times_gelu_grad(out, gb, d, a, sg):
    """out = d * gelu'(a) (`gelu_grad_from_sigmoid`, the sigmoid read from sg) and gb = the column sums of out in
    row order, on float32[n, H] arrays a row at a time (vectorised)."""
    gb[:] = 0.0
    for i in range(a.shape[0]):
        _gelu_grad_row(out[i], d[i], a[i], sg[i])
        _add_row(gb, out[i])  # while the row is in L1; each column still summed in row order


@njit(cache=True, error_model="numpy")
def _relu_mask_row(d, out):
    zero = np.float32(0.0)
    for j in range(d.shape[0]):
        d[j] = d[j] if out[j] > 0 else zero


@njit(cache=True, error_model="numpy")
def _relu_mask(d, out):
    """d = 0 where the ReLU output is not positive, a row at a time (a select, so it vectorises)."""
    for i in range(d.shape[0]):
        _relu_mask_row(d[i], out[i])


@njit(cache=True, error_model="numpy")
def _add_bias(out, b, relu):
    n, h = out.shape
    for i in range(n):
        for j in range(h):
            v = out[i, j] + b[j]
            out[i, j] = v if (not relu or v > 0) else np.float32(0.0)


@njit(cache=True, inline="always")
def compact(hs, spec):
    """Whether a forward into these buffers keeps only what the next layer reads (`Workspace(inference=True)`:
    fewer layers than the network's L). Then mlp layer k writes slot k mod 2 of hs and pre; resmlp keeps the
    stream in hs[0], every block's sigmoids in hs[1] and its LayerNorm and pre-activation in slot 0. The
    arithmetic is the same as with a full workspace, so the outputs are bit for bit the same; a backward needs
    a full one."""
    return hs.shape[0] < spec[3]


@njit(cache=True, inline="always")
def _fm_block(pre, k, r0, n):
    """Layer k's feature-major block for rows r0..r0+n-1: float32[H, n] over the same memory as pre[k, r0:r0+n]."""
    hid = pre.shape[2]
    return pre[k].reshape(-1)[r0 * hid:(r0 + n) * hid].reshape(hid, n)


@njit(cache=True, error_model="numpy")
def _bias_relu_transpose(t, b, out):
    """t = relu(t + b[:, None]) in place, a select as in `_add_bias` (t: float32[H, n], one unit a row), and
    out = t^T (out: float32[n, H], row-major rows). The transpose goes 16 units at a time with a constant
    inner trip count, which LLVM unrolls (2.4x faster than a variable one for 256 x 32 on this machine)."""
    hid, n = t.shape
    zero = np.float32(0.0)
    for j in range(hid):
        bj = b[j]
        tj = t[j]
        for i in range(n):
            v = tj[i] + bj
            tj[i] = v if v > 0 else zero
    full = hid - hid % 16
    for j0 in range(0, full, 16):
        for i in range(n):
            oi = out[i]
            for jj in range(16):
                oi[j0 + jj] = t[j0 + jj, i]
    for i in range(n):
        oi = out[i]
        for j in range(full, hid):
            oi[j] = t[j, i]


@njit(cache=True, error_model="numpy")
def _dot8(a, b):
    """float32 sum of a[j] * b[j]: term j adds to accumulator j mod 8 in order, accumulators added 0..7.
    Eight independent chains instead of one, so a row reduction is not bound by add latency; the eight
    are the lanes of one vector (`numbaplay.nn.lanes.dot8`). a, b: C-contiguous float32 vectors."""
    return dot8(a, b)


@njit(cache=True, error_model="numpy")
def _layernorm(y, xhat, rstd, x, g, b):
    """y = g (x - mu) / sqrt(var + eps) + b per row, two-pass statistics in float32 (`_dot8` sums)."""
    n, h = x.shape
    inv_h = np.float32(1.0) / np.float32(h)
    ones = np.ones(h, dtype=np.float32)
    for i in range(n):
        xi = x[i]
        d = xhat[i]
        mu = _dot8(xi, ones) * inv_h
        for j in range(h):
            d[j] = xi[j] - mu
        var = _dot8(d, d) * inv_h
        r = np.float32(1.0) / np.sqrt(var + LN_EPS)
        rstd[i] = r
        yi = y[i]
        for j in range(h):
            xv = d[j] * r
            d[j] = xv
            yi[j] = g[j] * xv + b[j]


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
    t = np.empty(h, dtype=np.float32)
    ones = np.ones(h, dtype=np.float32)
    for i in range(n):
        dyi = dy[i]
        xi = xhat[i]
        for j in range(h):
            t[j] = dyi[j] * g[j]
        m1 = _dot8(t, ones)  # sum of t (times 1 is exact)
        m2 = _dot8(t, xi)
        m1 *= inv_h
        m2 *= inv_h
        r = rstd[i]
        dxi = dx[i]
        for j in range(h):
            v = r * (t[j] - m1 - xi[j] * m2)
            dxi[j] = dxi[j] + v if accumulate else v


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
def _heads_grad(grad, spec, offs, dl, dv, y):
    """The gradient of the heads (pi.W, pi.b, v.W, v.b) into grad, from the rows of dL/dlogits dl,
    dL/dvpre dv and the features y; every column summed in row order."""
    hid, n_act = spec[2], spec[4]
    t = _heads_start(spec, offs)
    gemm_tn(grad[offs[t]:offs[t + 1]].reshape(n_act, hid), dl, y, np.float32(0.0))
    _col_sum(grad[offs[t + 1]:offs[t + 2]], dl)
    gvw = grad[offs[t + 2]:offs[t + 3]]
    gvw[:] = 0.0
    for i in range(dv.shape[0]):  # row-major; each column still summed in row order
        for j in range(hid):
            gvw[j] += dv[i] * y[i, j]
    s = np.float32(0.0)
    for i in range(dv.shape[0]):
        s += dv[i]
    grad[offs[t + 3]] = s


@njit(cache=True, error_model="numpy", inline="always")
def _heads_input_grad(d, params, spec, offs, dl, dv):
    """d = dL/dy = dl pi.W + dv v.W (rows of dL/dlogits dl and dL/dvpre dv): the first step of every
    backward chain."""
    hid, n_act = spec[2], spec[4]
    t = _heads_start(spec, offs)
    vw = params[offs[t + 2]:offs[t + 3]]
    gemm_nn(d, dl, params[offs[t]:offs[t + 1]].reshape(n_act, hid), np.float32(0.0))
    for i in range(d.shape[0]):
        for j in range(hid):
            d[i, j] += dv[i] * vw[j]


@njit(cache=True, error_model="numpy")
def forward(params, spec, offs, x, n, hs, us, pre, xh, rs, logits, vpre):
    """Forward pass on rows 0..n-1 (`forward_at` with r0 = 0)."""
    forward_at(params, spec, offs, x, 0, n, hs, us, pre, xh, rs, logits, vpre)


@njit(cache=True, error_model="numpy")
def forward_at(params, spec, offs, x, r0, n, hs, us, pre, xh, rs, logits, vpre):
    """Forward pass on rows r0..r0+n-1 of every buffer (row views of C-contiguous buffers stay
    C-contiguous, so the elementwise loops vectorise).

    params: float32[P]; spec: int64[5]; offs: int64[T+1]; x: float32[>=r0+n, obs];
    hs, us, pre, xh: float32[L, >=r0+n, H]; rs: float32[L, >=r0+n]; out logits: float32[>=r0+n, A];
    out vpre: float32[>=r0+n] (value before tanh). mlp: hs[k] is layer k's output, `pre` scratch for the
    feature-major form. resmlp: hs[0] ends as the last residual stream h_{L-1}, hs[k] (k >= 1) holds block
    k's GELU sigmoid for the backward, pre[k-1] its pre-activation, us/xh/rs the LayerNorm outputs, x-hats
    and 1/std.
    """
    obs_size, hid, depth, n_act = spec[1], spec[2], spec[3], spec[4]
    zero = np.float32(0.0)
    r1 = r0 + n
    if n <= 0:
        return
    small = compact(hs, spec)
    if spec[0] == MLP:
        # Feature-major (`feature_major`): layer k's pre-activations as t = W_k h_{k-1}^T (hid x n, in `pre`,
        # which an mlp does not otherwise use), then bias and ReLU on t, and hs[k] = t^T for the backward;
        # t is the next layer's input as it stands. Otherwise row-major: hs[k] = h_{k-1} W_k^T, bias, ReLU.
        fm = feature_major(hid, n)
        for k in range(depth):
            fan_in = obs_size if k == 0 else hid
            w = params[offs[2 * k]:offs[2 * k + 1]].reshape(hid, fan_in)
            b = params[offs[2 * k + 1]:offs[2 * k + 2]]
            cur = k & 1 if small else k
            prv = (k - 1) & 1 if small else k - 1
            if fm:
                t = _fm_block(pre, cur, r0, n)
                if k == 0:
                    gemm_nt(t, w, x[r0:r1], zero)
                else:
                    gemm_nn(t, w, _fm_block(pre, prv, r0, n), zero)
                _bias_relu_transpose(t, b, hs[cur, r0:r1])
            else:
                src = x[r0:r1] if k == 0 else hs[prv, r0:r1]
                gemm_nt(hs[cur, r0:r1], src, w, zero)
                _add_bias(hs[cur, r0:r1], b, True)
        y = hs[(depth - 1) & 1 if small else depth - 1, r0:r1]
    else:
        # The residual stream h stays in hs[0], updated in place; hs[k] keeps block k's GELU sigmoid.
        h = hs[0, r0:r1]
        w = params[offs[0]:offs[1]].reshape(hid, obs_size)
        gemm_nt(h, x[r0:r1], w, zero)
        _add_bias(h, params[offs[1]:offs[2]], False)
        for k in range(1, depth):
            t = 2 + 4 * (k - 1)
            g = params[offs[t]:offs[t + 1]]
            bln = params[offs[t + 1]:offs[t + 2]]
            w = params[offs[t + 2]:offs[t + 3]].reshape(hid, hid)
            b = params[offs[t + 3]:offs[t + 4]]
            j = 0 if small else k - 1
            _layernorm(us[j, r0:r1], xh[j, r0:r1], rs[j, r0:r1], h, g, bln)
            a = pre[j, r0:r1]
            gemm_nt(a, us[j, r0:r1], w, zero)
            _bias_residual_gelu(h, hs[1 if small else k, r0:r1], a, b)
        t = 2 + 4 * (depth - 1)
        j = 0 if small else depth - 1
        _layernorm(us[j, r0:r1], xh[j, r0:r1], rs[j, r0:r1], h, params[offs[t]:offs[t + 1]],
                   params[offs[t + 1]:offs[t + 2]])
        y = us[j, r0:r1]
    t = _heads_start(spec, offs)
    pw = params[offs[t]:offs[t + 1]].reshape(n_act, hid)
    gemm_nt(logits[r0:r1], y, pw, zero)
    _add_bias(logits[r0:r1], params[offs[t + 1]:offs[t + 2]], False)
    vw = params[offs[t + 2]:offs[t + 3]]
    vb = params[offs[t + 3]]
    vp = vpre[r0:r1]
    for i in range(n):
        vp[i] = _dot8(y[i], vw) + vb


@njit(cache=True, error_model="numpy")
def backward(grad, params, spec, offs, x, n, hs, us, pre, xh, rs, dlogits, dvpre, dh, dt):
    """Gradient on rows 0..n-1 (`backward_at` with r0 = 0)."""
    backward_at(grad, params, spec, offs, x, 0, n, hs, us, pre, xh, rs, dlogits, dvpre, dh, dt)


@njit(cache=True, error_model="numpy")
def backward_at(grad, params, spec, offs, x, r0, n, hs, us, pre, xh, rs, dlogits, dvpre, dh, dt):
    """Gradient of a loss with respect to every parameter, given dL/dlogits and dL/dvpre, on rows
    r0..r0+n-1 of every buffer.

    grad: float32[P] (overwritten); dlogits: float32[>=r0+n, A]; dvpre: float32[>=r0+n];
    dh, dt: float32[>=r0+n, H] scratch; other arguments as in `forward` (its cache for these rows).
    resmlp reuses `pre` as scratch: run `forward` again before another `backward`.
    """
    obs_size, hid, depth = spec[1], spec[2], spec[3]
    zero = np.float32(0.0)
    r1 = r0 + n
    dv = dvpre[r0:r1]
    y = hs[depth - 1, r0:r1] if spec[0] == MLP else us[depth - 1, r0:r1]
    _heads_grad(grad, spec, offs, dlogits[r0:r1], dv, y)
    d = dh[r0:r1]
    _heads_input_grad(d, params, spec, offs, dlogits[r0:r1], dv)
    if spec[0] == MLP:
        nxt = dt[r0:r1]
        for k in range(depth - 1, -1, -1):
            fan_in = obs_size if k == 0 else hid
            _relu_mask(d, hs[k, r0:r1])
            src = x[r0:r1] if k == 0 else hs[k - 1, r0:r1]
            gemm_tn(grad[offs[2 * k]:offs[2 * k + 1]].reshape(hid, fan_in), d, src, zero)
            _col_sum(grad[offs[2 * k + 1]:offs[2 * k + 2]], d)
            if k > 0:
                gemm_nn(nxt, d, params[offs[2 * k]:offs[2 * k + 1]].reshape(hid, fan_in), zero)
                d, nxt = nxt, d  # the two scratch buffers swap roles instead of copying
        return
    # resmlp: through LN_out, then the blocks from the top, then the input layer.
    t = 2 + 4 * (depth - 1)
    dx = dt[r0:r1]
    _layernorm_backward(dx, grad[offs[t]:offs[t + 1]], grad[offs[t + 1]:offs[t + 2]], d,
                        xh[depth - 1, r0:r1], rs[depth - 1, r0:r1], params[offs[t]:offs[t + 1]], False)
    for i in range(d.shape[0]):  # d is now dL/dh_{L-1}
        copy_row(d[i], dx[i])
    for k in range(depth - 1, 0, -1):
        t = 2 + 4 * (k - 1)
        a = pre[k - 1, r0:r1]
        da = dx  # reuse scratch: da = d * gelu'(a), and the bias gradient with it
        _times_gelu_grad(da, grad[offs[t + 3]:offs[t + 4]], d, a, hs[k, r0:r1])
        w = params[offs[t + 2]:offs[t + 3]].reshape(hid, hid)
        gemm_tn(grad[offs[t + 2]:offs[t + 3]].reshape(hid, hid), da, us[k - 1, r0:r1], zero)
        # du = da W, written into pre[k-1] (no longer needed) to keep dt free.
        du = pre[k - 1, r0:r1]
        gemm_nn(du, da, w, zero)
        _layernorm_backward(d, grad[offs[t]:offs[t + 1]], grad[offs[t + 1]:offs[t + 2]], du,
                            xh[k - 1, r0:r1], rs[k - 1, r0:r1], params[offs[t]:offs[t + 1]], True)
    gemm_tn(grad[offs[0]:offs[1]].reshape(hid, obs_size), d, x[r0:r1], zero)
    _col_sum(grad[offs[1]:offs[2]], d)


@njit(cache=True, error_model="numpy")
def backward_inputs_at(dys, params, spec, offs, r0, n, hs, dlogits, dvpre):
    """mlp, rows r0..r0+n-1: the loss gradient at every layer's pre-activation, dys[k] = dL/dh_k * relu'
    (the dX chain of `backward_at`, bit for bit), and no weight gradient; `weight_grads_units` makes
    those from dys over all rows. dys: float32[L, >=r0+n, H]; other arguments as in `backward_at`."""
    hid, depth = spec[2], spec[3]
    zero = np.float32(0.0)
    r1 = r0 + n
    _heads_input_grad(dys[depth - 1, r0:r1], params, spec, offs, dlogits[r0:r1], dvpre[r0:r1])
    for k in range(depth - 1, -1, -1):
        _relu_mask(dys[k, r0:r1], hs[k, r0:r1])
        if k > 0:
            gemm_nn(dys[k - 1, r0:r1], dys[k, r0:r1], params[offs[2 * k]:offs[2 * k + 1]].reshape(hid, hid), zero)


@njit(cache=True)
def unit_pieces(spec, offs, part):
    """mlp: int64[k, 2], the ranges [lo, hi) of the flat parameter vector that belong to unit part `part`
    (`numbaplay.nn.rows.unit_cuts`), in the update's order: per layer its weight rows, then its bias part;
    part 0 ends with the heads (policy and value, one range)."""
    obs_size, hid, depth = spec[1], spec[2], spec[3]
    cuts = unit_cuts(hid)
    u0, u1 = cuts[part], cuts[part + 1]
    out = np.empty((2 * depth + (1 if part == 0 else 0), 2), np.int64)
    for k in range(depth):
        fan_in = obs_size if k == 0 else hid
        out[2 * k, 0] = offs[2 * k] + u0 * fan_in
        out[2 * k, 1] = offs[2 * k] + u1 * fan_in
        out[2 * k + 1, 0] = offs[2 * k + 1] + u0
        out[2 * k + 1, 1] = offs[2 * k + 1] + u1
    if part == 0:
        t = _heads_start(spec, offs)
        out[2 * depth, 0] = offs[t]
        out[2 * depth, 1] = offs[t + 4]
    return out


@njit(cache=True, error_model="numpy")
def _unit_col_sum(out, d, u0):
    """out[j] = sum over rows of d[:, u0 + j], in row order, reading C-contiguous row slices."""
    out[:] = 0.0
    for i in range(d.shape[0]):
        row = d[i][u0:u0 + out.shape[0]]
        for j in range(out.shape[0]):
            out[j] += row[j]


@njit(cache=True, error_model="numpy")
def weight_grads_units(grad, part, spec, offs, x, n, hs, dys, dlogits, dvpre):
    """mlp: the gradient of the parameters of unit part `part` (`numbaplay.nn.rows.unit_cuts`) of every
    layer over rows 0..n-1, into grad (float32[P]); part 0 also takes the heads. Returns the float64 sum
    of the squares of what it wrote: the `sumsq8` of each range of `unit_pieces(spec, offs, part)`, added
    in that order (each range right after it is written, while it is in cache).

    Each weight part is one GEMM over all n rows (K = n), so no shard gradients are summed afterwards.
    dys: from `backward_inputs_at` for rows 0..n-1; hs: the forward cache; x: float32[>=n, obs]."""
    obs_size, hid, depth = spec[1], spec[2], spec[3]
    zero = np.float32(0.0)
    cuts = unit_cuts(hid)
    u0, u1 = cuts[part], cuts[part + 1]
    ss = 0.0
    for k in range(depth):
        fan_in = obs_size if k == 0 else hid
        src = x[0:n] if k == 0 else hs[k - 1, 0:n]
        gw = grad[offs[2 * k] + u0 * fan_in:offs[2 * k] + u1 * fan_in]
        gemm_tn(gw.reshape(u1 - u0, fan_in), dys[k, 0:n, u0:u1], src, zero)
        gb = grad[offs[2 * k + 1] + u0:offs[2 * k + 1] + u1]
        _unit_col_sum(gb, dys[k, 0:n], u0)
        ss += sumsq8(gw)
        ss += sumsq8(gb)
    if part == 0:
        t = _heads_start(spec, offs)
        _heads_grad(grad, spec, offs, dlogits[0:n], dvpre[0:n], hs[depth - 1, 0:n])
        ss += sumsq8(grad[offs[t]:offs[t + 4]])
    return ss


@njit(cache=True, inline="always")
def _piece_forward(p, net, lo, hi, learner, pool, spec, offs, x, hs, us, pre, xh, rs, logits, vpre, flush):
    fp = flush_enter() if flush else np.int32(0)
    w = learner if net[p] < 0 else pool[net[p]]
    forward_at(w, spec, offs, x, lo[p], hi[p] - lo[p], hs, us, pre, xh, rs, logits, vpre)
    if flush:
        flush_exit(fp)


@njit(cache=True, parallel=True)
def forward_nets(net, lo, hi, learner, pool, spec, offs, x, hs, us, pre, xh, rs, logits, vpre, flush, n_jobs):
    """Forward pieces in parallel: piece p is rows lo[p]..hi[p]-1 of every buffer through the network
    `learner` (net[p] < 0) or `pool[net[p]]`. Each piece makes its own BLAS calls, so a row's outputs
    depend only on its piece, never on the thread that ran it. The one parallel inference kernel:
    rollouts, agents and the profiler's update loop all call it (one compiled copy keeps the cold compile
    shorter). flush: run each piece with subnormals flushed to zero, as the update's kernels do
    (`numbaplay.nn.fpenv`); rollouts and agents pass False. n_jobs: the pieces run as this many runs of
    about equal rows (`numbaplay.nn.rows.job_cuts`): rollouts pass the thread count, to balance the threads'
    work; `forward_pieces` passes its piece count, which for its nearly equal pieces is a piece a run."""
    jobs = job_cuts(lo, hi, n_jobs)
    for j in prange(jobs.shape[0] - 1):
        for p in range(jobs[j], jobs[j + 1]):
            _piece_forward(p, net, lo, hi, learner, pool, spec, offs, x, hs, us, pre, xh, rs, logits, vpre, flush)


@njit(cache=True)
def forward_pieces(params, spec, offs, x, hs, us, pre, xh, rs, logits, vpre, cuts, flush=False):
    """`forward` on rows cuts[0]..cuts[-1], one call per piece [cuts[c], cuts[c+1]), pieces in parallel
    (flush: as in `forward_nets`)."""
    k = cuts.shape[0] - 1
    net = np.full(k, -1, dtype=np.int64)
    forward_nets(net, cuts[:k], cuts[1:], params, params.reshape(1, params.shape[0]), spec, offs, x, hs, us,
                 pre, xh, rs, logits, vpre, flush, k)


@njit(cache=True, inline="always")
def _backward_piece(c, grads, params, spec, offs, x, hs, us, pre, xh, rs, dlogits, dvpre, dh, dt, cuts):
    fp = flush_enter()  # a backward is always part of an update: subnormals flushed, as `numbaplay.nn.fpenv`
    backward_at(grads[c], params, spec, offs, x, cuts[c], cuts[c + 1] - cuts[c], hs, us, pre, xh, rs,
                dlogits, dvpre, dh, dt)
    flush_exit(fp)


@njit(cache=True, parallel=True)
def _backward_par(grads, params, spec, offs, x, hs, us, pre, xh, rs, dlogits, dvpre, dh, dt, cuts):
    for c in prange(cuts.shape[0] - 1):
        _backward_piece(c, grads, params, spec, offs, x, hs, us, pre, xh, rs, dlogits, dvpre, dh, dt, cuts)


@njit(cache=True)
def backward_shards(grads, params, spec, offs, x, hs, us, pre, xh, rs, dlogits, dvpre, dh, dt, cuts):
    """`backward` per shard [cuts[s], cuts[s+1]) into grads[s] (float32[>=k, P]), shards in parallel.

    The forward cache must hold these rows (any partition of them). The gradient of the whole
    minibatch is the sum of the k shard gradients in shard order (`numbaplay.nn.adam.combine_grad_norm`).
    """
    if cuts.shape[0] == 2:
        _backward_piece(0, grads, params, spec, offs, x, hs, us, pre, xh, rs, dlogits, dvpre, dh, dt, cuts)
    else:
        _backward_par(grads, params, spec, offs, x, hs, us, pre, xh, rs, dlogits, dvpre, dh, dt, cuts)
