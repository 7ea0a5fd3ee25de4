"""Single-precision GEMM from Numba kernels, on the fastest BLAS installed.

`np.dot` inside `@njit` allocates its result and refuses non-contiguous operands. These wrappers call
`sgemm` (Fortran interface, column-major) through an intrinsic, with leading dimensions taken from row
strides, so kernels write into slices of caller-owned buffers and can accumulate with beta = 1. Every
operand is row-major with unit stride along its last axis.

Backend. The compiled code calls the external symbol `numbaplay_sgemm`, bound when this module is
imported (`llvmlite.binding.add_symbol`) to one of:
- `mkl`: Intel MKL's `sgemm` from the PyPI `mkl` wheel (x86-64 Linux), switched to its sequential layer
  before its first call. On the hidden layers' shapes it is 1.15-1.75x faster than OpenBLAS on one core
  and whole iterations 1.16-1.23x faster (results/bench/blas_backends.json).
- `openblas`: SciPy's OpenBLAS (`scipy.linalg.cython_blas.sgemm`, the BLAS Numba's own `np.dot` uses),
  pinned to one thread by `single_threaded_kernel_blas`.
`NUMBAPLAY_BLAS` picks one (`auto`, the default: MKL where it loads, else OpenBLAS). Binding loads the
library, so importing this module is enough for threadpoolctl to see and limit it. The symbol is looked
up when a kernel is linked, so Numba's on-disk cache stays valid for either backend. Each backend is
deterministic for given shapes and operands; the two differ in the last bits (the C reference's
tolerance, SPEC section 8), so a run records which one it used (`kernel_blas_info`).
"""
import ctypes
import glob
import os
import sys

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import config, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from numbaplay.errors import ConfigError

BACKENDS = ("auto", "mkl", "openblas")
_SYMBOL = "numbaplay_sgemm"
_MKL_THREADING_SEQUENTIAL = 1


def _find_mkl() -> str | None:
    """Path of `libmkl_rt` as the `mkl` wheel installs it (under the environment's `lib/`), or None."""
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        found = sorted(glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*")))
        if found:
            return found[0]
    return None


def _load_mkl():
    """(address of MKL's sgemm, info) with MKL on its sequential layer, or (None, reason)."""
    path = _find_mkl()
    if path is None:
        return None, "the mkl package is not installed"
    try:
        lib = ctypes.CDLL(path)
        lib.MKL_Set_Threading_Layer.restype = ctypes.c_int
        layer = lib.MKL_Set_Threading_Layer(ctypes.c_int(_MKL_THREADING_SEQUENTIAL))
        if layer != _MKL_THREADING_SEQUENTIAL:
            return None, f"MKL is already running threading layer {layer}, not the sequential one"
        buf = ctypes.create_string_buffer(256)
        lib.MKL_Get_Version_String(buf, ctypes.c_int(len(buf)))
        address = ctypes.cast(lib.sgemm_, ctypes.c_void_p).value
    except (OSError, AttributeError) as exc:
        return None, f"{path} did not load ({exc})"
    return address, {"name": "mkl", "version": buf.value.decode(errors="replace").strip(), "library": path}


def _load_openblas():
    """(address of SciPy's cython_blas sgemm, info)."""
    import scipy
    import scipy.linalg.cython_blas as cython_blas

    capsule = cython_blas.__pyx_capi__["sgemm"]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    address = get_pointer(capsule, get_name(capsule))
    return address, {"name": "openblas", "version": f"SciPy {scipy.__version__}",
                     "library": os.path.dirname(cython_blas.__file__)}


def _bind() -> dict:
    choice = os.environ.get("NUMBAPLAY_BLAS", "auto").strip().lower() or "auto"
    if choice not in BACKENDS:
        raise ConfigError(f"NUMBAPLAY_BLAS={choice!r} is not a BLAS backend; choose one of {', '.join(BACKENDS)}")
    info = None
    if choice in ("auto", "mkl"):
        address, info = _load_mkl()
        if address is None:
            if choice == "mkl":
                raise ConfigError(f"NUMBAPLAY_BLAS=mkl, but MKL is unavailable: {info}; "
                                  "install it with `pip install mkl` or set NUMBAPLAY_BLAS=openblas")
            info = {"mkl_unavailable": info}
    if choice == "openblas" or address is None:
        address, found = _load_openblas()
        info = {**found, **(info or {})}
    llvm.add_symbol(_SYMBOL, address)
    return info


_BACKEND = _bind()


def kernel_blas_info() -> dict:
    """Which BLAS the kernels call: name (`mkl` or `openblas`), version, library path."""
    return dict(_BACKEND)


def kernel_blas() -> str:
    """`mkl` or `openblas`."""
    return _BACKEND["name"]


_ll_i8p = ir.IntType(8).as_pointer()
_ll_i32 = ir.IntType(32)
_ll_f32 = ir.FloatType()


@intrinsic
def _sgemm(typingctx, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major sgemm: c = alpha op(a) op(b) + beta c, through the bound `numbaplay_sgemm`
    (Fortran interface: every argument by pointer, 32-bit integers). ta, tb: ord('n') or ord('t')."""
    sig = types.void(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        p32, pf = _ll_i32.as_pointer(), _ll_f32.as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [_ll_i8p, _ll_i8p, p32, p32, p32, pf, pf, p32, pf, p32, pf,
                                               pf, p32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _SYMBOL)

        def slot(value):
            return cgutils.alloca_once_value(builder, value)

        def int32(i):
            return slot(builder.trunc(context.cast(builder, args[i], signature.args[i], types.int64), _ll_i32))

        def char(i):
            return slot(builder.trunc(context.cast(builder, args[i], signature.args[i], types.int64),
                                      ir.IntType(8)))

        def scalar(i):
            return slot(context.cast(builder, args[i], signature.args[i], types.float32))

        def data(i):
            arr = context.make_array(signature.args[i])(context, builder, args[i])
            return builder.bitcast(arr.data, pf)

        builder.call(fn, (char(0), char(1), int32(2), int32(3), int32(4), scalar(5), data(6), int32(7),
                          data(8), int32(9), scalar(10), data(11), int32(12)))
        return context.get_dummy_value()

    return sig, codegen


_pinned = False


def single_threaded_kernel_blas() -> None:
    """Run the kernels' BLAS on one thread from now on.

    The kernels call it from inside `prange` pieces, one call per Numba thread; a multi-threaded BLAS
    there would oversubscribe the cores. MKL runs its sequential layer already; SciPy's OpenBLAS is
    limited to one thread. NumPy's own OpenBLAS (a separate library) is left alone, and a
    `threadpoolctl.threadpool_limits` block (as `run_training(blas_threads=...)`) can still change it.
    Only the first call in a process does anything.
    """
    global _pinned
    if _pinned or _BACKEND["name"] != "openblas":
        return
    _pinned = True
    import scipy
    from threadpoolctl import ThreadpoolController

    libs = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
    for lib in ThreadpoolController().lib_controllers:
        if lib.user_api == "blas" and os.path.dirname(lib.filepath) == libs:
            lib.set_num_threads(1)


_T = 116  # ord("t")
_N = 110  # ord("n")


@njit(cache=True, inline="always")
def _call(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc):
    _sgemm(ta, tb, m, n, k, np.float32(1.0), a, max(lda, 1), b, max(ldb, 1), np.float32(beta), c, max(ldc, 1))


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
