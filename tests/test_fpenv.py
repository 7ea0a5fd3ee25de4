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
