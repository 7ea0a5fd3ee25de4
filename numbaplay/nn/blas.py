"""Single-precision GEMM from Numba kernels, on the BLAS that Numba itself uses.

`np.dot` inside `@njit` allocates its result and refuses non-contiguous operands. These wrappers call
Numba's own `numba_xxgemm` helper (SciPy's OpenBLAS `sgemm`, column-major) through an intrinsic, with
leading dimensions taken from row strides, so kernels write into slices of caller-owned buffers and
can accumulate with beta = 1; unlike a ctypes pointer, an intrinsic keeps `cache=True` working.
Every operand is row-major with unit stride along its last axis.
"""
import os

import numpy as np
from llvmlite import ir
from numba import config, njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.linalg import ensure_blas

_ll_char = ir.IntType(8)
_ll_voidp = ir.IntType(8).as_pointer()


@intrinsic
def _xxgemm(typingctx, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major sgemm: c = alpha op(a) op(b) + beta c; alpha/beta are float32[1] arrays."""
    sig = types.int32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        ensure_blas()
        intp = context.get_value_type(types.intp)
        fnty = ir.FunctionType(ir.IntType(32), [
            _ll_char, _ll_char, _ll_char, intp, intp, intp, _ll_voidp, _ll_voidp, intp,
            _ll_voidp, intp, _ll_voidp, _ll_voidp, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")

        def data(i):
            arr = context.make_array(signature.args[i])(context, builder, args[i])
            return builder.bitcast(arr.data, _ll_voidp)

        def integer(i):
            return context.cast(builder, args[i], signature.args[i], types.intp)

        def char(i):
            return builder.trunc(context.cast(builder, args[i], signature.args[i], types.int64), _ll_char)

        return builder.call(fn, (ir.Constant(_ll_char, ord("s")), char(0), char(1), integer(2), integer(3),
                                 integer(4), data(5), data(6), integer(7), data(8), integer(9), data(10),
                                 data(11), integer(12)))

    return sig, codegen


def load_kernel_blas() -> None:
    """Load the BLAS that the kernels call (SciPy's OpenBLAS, through Numba's helper), so that
    threadpoolctl can see and limit it: it only limits libraries already loaded."""
    import scipy.linalg.cython_blas  # noqa: F401

    ensure_blas()


_pinned = False


def single_threaded_kernel_blas() -> None:
    """Run the kernels' BLAS (SciPy's OpenBLAS, which `numba_xxgemm` calls) on one thread from now on.

    The kernels call it from inside `prange` pieces, one call per Numba thread; a multi-threaded BLAS
    there would oversubscribe the cores. NumPy's own OpenBLAS (a separate library) is left alone, and a
    `threadpoolctl.threadpool_limits` block (as `run_training(blas_threads=...)`) can still change it.
    Only the first call in a process does anything.
    """
    global _pinned
    if _pinned:
        return
    _pinned = True
    import scipy
    from threadpoolctl import ThreadpoolController

    load_kernel_blas()
    libs = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
    for lib in ThreadpoolController().lib_controllers:
        if lib.user_api == "blas" and os.path.dirname(lib.filepath) == libs:
            lib.set_num_threads(1)


_T = 116  # ord("t")
_N = 110  # ord("n")


@njit(cache=True, inline="always")
def _call(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc):
    sc = np.empty(2, dtype=np.float32)
    sc[0] = 1.0
    sc[1] = beta
    status = _xxgemm(ta, tb, m, n, k, sc[0:1], a, max(lda, 1), b, max(ldb, 1), sc[1:2], c, max(ldc, 1))
    if status != 0:
        raise RuntimeError("BLAS sgemm is unavailable")


@njit(cache=True, inline="always")
def _scale(c, beta):
    for i in range(c.shape[0]):
        for j in range(c.shape[1]):
            c[i, j] *= beta


@njit(cache=True)
def gemm_nt(c, a, b, beta):
    """c = a @ b.T + beta c.  c: float32[m, n]; a: float32[m, k]; b: float32[n, k]."""
    m, k = a.shape
    n = b.shape[0]
    if m == 0 or n == 0:
        return
    if k == 0:
        _scale(c, beta)
        return
    # Row-major c = a b^T is column-major c^T = b a^T, with b^T stored as b's rows.
    _call(_T, _N, n, m, k, b, b.strides[0] // 4, a, a.strides[0] // 4, beta, c, c.strides[0] // 4)


@njit(cache=True)
def gemm_nn(c, a, b, beta):
    """c = a @ b + beta c.  c: float32[m, n]; a: float32[m, k]; b: float32[k, n]."""
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        _scale(c, beta)
        return
    _call(_N, _N, n, m, k, b, b.strides[0] // 4, a, a.strides[0] // 4, beta, c, c.strides[0] // 4)


@njit(cache=True)
def gemm_tn(c, a, b, beta):
    """c = a.T @ b + beta c.  c: float32[m, n]; a: float32[k, m]; b: float32[k, n]."""
    k, m = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        _scale(c, beta)
        return
    _call(_N, _T, n, m, k, b, b.strides[0] // 4, a, a.strides[0] // 4, beta, c, c.strides[0] // 4)


if config.DISABLE_JIT:  # pragma: no cover - NUMBA_DISABLE_JIT=1: plain NumPy with the same contract
    def gemm_nt(c, a, b, beta):  # noqa: F811
        c[...] = a @ b.T + beta * c if beta != 0 else a @ b.T

    def gemm_nn(c, a, b, beta):  # noqa: F811
        c[...] = a @ b + beta * c if beta != 0 else a @ b

    def gemm_tn(c, a, b, beta):  # noqa: F811
        c[...] = a.T @ b + beta * c if beta != 0 else a.T @ b
