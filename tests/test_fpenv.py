"""The update's kernels flush subnormals to zero and leave the caller's floating-point environment alone."""
import platform

import numpy as np
import pytest
from numba import config, njit

from numbaplay.nn.adam import clip_and_adam
from numbaplay.nn.fpenv import FTZ_DAZ, flush_enter, flush_exit, mxcsr

pytestmark = [pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                                 reason="FTZ and DAZ are MXCSR bits of x86-64"),
              pytest.mark.skipif(config.DISABLE_JIT, reason="plain Python cannot reach MXCSR")]
TINY = np.finfo(np.float32).tiny


@njit
def product_inside_and_after(xy, out):
    """out[0] = xy[0] xy[1] with subnormals flushed, out[1] the same product after; the loads and stores
    cannot cross `flush_enter` and `flush_exit`, so the product is computed twice."""
    before = mxcsr()
    old = flush_enter()
    inside = mxcsr()
    out[0] = xy[0] * xy[1]
    flush_exit(old)
    out[1] = xy[0] * xy[1]
    return before, inside, mxcsr()


@njit
def csr():
    return mxcsr()


def test_flush_sets_ftz_and_daz_then_restores():
    out = np.full(2, -1.0, np.float32)
    before, inside, after = product_inside_and_after(np.array([TINY, 0.25], np.float32), out)  # subnormal
    p_inside, p_after = out
    assert before & FTZ_DAZ == 0  # Python's threads run with IEEE subnormals
    assert inside & FTZ_DAZ == FTZ_DAZ
    assert after == before
    assert p_inside == 0.0
    assert 0.0 < p_after < TINY  # subnormal again once restored


def test_adam_flushes_inside_and_leaves_the_callers_environment():
    size = 70_013  # the chunked parallel path
    p = np.ones(size, np.float32)
    m = np.zeros(size, np.float32)
    v = np.zeros(size, np.float32)
    g = np.full(size, 1e-20, np.float32)  # 0.001 g g is subnormal: flushed, so v stays 0
    g[0] = 1.0
    before = csr()
    clip_and_adam(p, g, m, v, 1, 1e-3, 0.0)
    assert csr() == before
    assert v[0] > 0 and np.all(v[1:] == 0.0)
    assert np.all(m[1:] == np.float32(0.1) * np.float32(1e-20))  # normal values are untouched


@pytest.mark.parametrize("arch", ["mlp", "resmlp"])
def test_forward_pieces_flush_only_when_asked(arch):
    """The update's forward (the profiler calls it with flush=True) reads a subnormal policy bias as 0;
    rollouts and agents (flush=False) keep it."""
    from numbaplay.nn.net import Workspace, forward_pieces
    from numbaplay.nn.params import NetSpec, n_params, offsets

    spec = NetSpec(arch, 18, 8, 2, 9)
    offs = offsets(spec)
    params = np.zeros(n_params(spec), np.float32)
    bias = params[offs[-4]:offs[-3]]  # pi.b (then v.W, v.b, and the total size)
    assert bias.shape == (9,)
    bias[:] = np.float32(TINY / 8)  # subnormal
    x = np.ones((4, 18), np.float32)
    cuts = np.array([0, 4], np.int64)
    for flush, expected in ((False, np.float32(TINY / 8)), (True, 0.0)):
        ws = Workspace(spec.array(), 4)
        logits = np.full((4, 9), -1.0, np.float32)
        vpre = np.zeros(4, np.float32)
        forward_pieces(params, spec.array(), offs, x, ws.hs, ws.us, ws.pre, ws.xh, ws.rs, logits, vpre, cuts, flush)
        assert np.all(logits == expected), (flush, logits[0])
    assert csr() & FTZ_DAZ == 0  # and the caller's environment is as it was
