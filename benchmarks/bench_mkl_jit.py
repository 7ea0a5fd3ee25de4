"""MKL's JIT GEMM kernels (`mkl_cblas_jit_create_sgemm`) against `cblas_sgemm` on the networks' shapes.

MKL can generate a GEMM kernel for one fixed shape, with no packing of the operands, when the shape is
small; for larger shapes it returns MKL_NO_JIT (status 1) and its kernel calls the standard `sgemm`.
This measures, for each of the three GEMM forms of a forward and backward (forward x W^T, weight
gradient dA^T u, input gradient dA W) at the row counts of a shard step and the presets' widths, the
status MKL gives, whether the two results are equal, and the time of each, single-threaded, through
ctypes (the same call overhead on both sides), median of rounds after a warm-up. Writes
results/bench/mkl_jit.json with machine info and the load.

    python benchmarks/bench_mkl_jit.py --rounds 5
"""
import argparse
import ctypes
import json
import time
from pathlib import Path

import numpy as np
from numba import njit

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
STATUS = {0: "jit", 1: "no_jit (standard sgemm)", 2: "error"}
# (rows, hidden): c4-seed's 128-row shards at 256 units, and the neighbouring sizes.
SHAPES = [(rows, 256) for rows in (32, 64, 128, 256)] + [(rows, 128) for rows in (64, 128, 256, 512)]
FORMS = {  # name: (transa, transb, m, n, k) for rows r and hidden h; operands r x h or h x h, row-major
    "x W^T": lambda r, h: (NO_TRANS, TRANS, r, h, h),
    "dA^T u": lambda r, h: (TRANS, NO_TRANS, h, h, r),
    "dA W": lambda r, h: (NO_TRANS, NO_TRANS, r, h, h),
}


def load_mkl():
    from numbaplay.nn.blas import _find_mkl

    path = _find_mkl()
    if path is None:
        raise SystemExit("bench_mkl_jit: the mkl package is not installed in this environment")
    lib = ctypes.CDLL(path)
    lib.MKL_Set_Num_Threads(ctypes.c_int(1))
    i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    lib.mkl_cblas_jit_create_sgemm.argtypes = [ctypes.POINTER(p), i, i, i, i, i, i, f, i, i, f, i]
    lib.mkl_cblas_jit_create_sgemm.restype = i
    lib.mkl_jit_get_sgemm_ptr.argtypes = [p]
    lib.mkl_jit_get_sgemm_ptr.restype = p
    lib.mkl_jit_destroy.argtypes = [p]
    return path, lib


_SGEMM = ctypes.CFUNCTYPE(None, *[ctypes.c_int] * 6, ctypes.c_float, ctypes.c_void_p, ctypes.c_int,
                          ctypes.c_void_p, ctypes.c_int, ctypes.c_float, ctypes.c_void_p, ctypes.c_int)
_KERNEL = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


@njit
def _sgemm_loop(f, reps, ta, tb, m, n, k, pa, lda, pb, ldb, pc):
    for _ in range(reps):
        f(ROW_MAJOR, ta, tb, m, n, k, np.float32(1.0), pa, lda, pb, ldb, np.float32(0.0), pc, n)


@njit
def _kernel_loop(f, reps, jitter, pa, pb, pc):
    for _ in range(reps):
        f(jitter, pa, pb, pc)


def median_us(call, reps: int, rounds: int) -> float:
    """Median over rounds of the time per call, `call(reps)` running reps calls in a compiled loop."""
    call(2)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        call(reps)
        times.append((time.perf_counter() - t0) / reps)
    return float(np.median(times)) * 1e6


def measure(lib, rows: int, hid: int, form: str, rounds: int) -> dict:
    ta, tb, m, n, k = FORMS[form](rows, hid)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if ta == TRANS else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb == TRANS else (k, n)).astype(np.float32)
    c_std = np.zeros((m, n), np.float32)
    c_jit = np.zeros((m, n), np.float32)
    lda, ldb = a.shape[1], b.shape[1]
    jitter = ctypes.c_void_p()
    status = lib.mkl_cblas_jit_create_sgemm(ctypes.byref(jitter), ROW_MAJOR, ta, tb, m, n, k, 1.0, lda, ldb,
                                            0.0, n)
    kernel = _KERNEL(lib.mkl_jit_get_sgemm_ptr(jitter))
    sgemm = _SGEMM(ctypes.cast(lib.cblas_sgemm, ctypes.c_void_p).value)
    pa, pb = a.ctypes.data, b.ctypes.data

    def std(reps):
        _sgemm_loop(sgemm, reps, ta, tb, m, n, k, pa, lda, pb, ldb, c_std.ctypes.data)

    def jit(reps):
        _kernel_loop(kernel, reps, jitter.value, pa, pb, c_jit.ctypes.data)

    reps = max(50, int(4e8 / (2 * m * n * k)))
    std_us, jit_us = median_us(std, reps, rounds), median_us(jit, reps, rounds)
    lib.mkl_jit_destroy(jitter)
    return {"rows": rows, "hidden": hid, "form": form, "m_n_k": [m, n, k], "status": STATUS.get(status, status),
            "results_equal": bool(np.array_equal(c_std, c_jit)),
            "max_abs_difference": float(np.max(np.abs(c_std - c_jit))),
            "sgemm_us": std_us, "jit_us": jit_us, "jit_over_sgemm": jit_us / std_us,
            "sgemm_gflops": 2 * m * n * k / std_us / 1e3, "jit_gflops": 2 * m * n * k / jit_us / 1e3}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="results/bench/mkl_jit.json")
    args = ap.parse_args()
    from numbaplay.omp import use_short_spin
    from numbaplay.profile.machine import uptime
    from numbaplay.runs import machine_info

    use_short_spin()
    path, lib = load_mkl()
    start = uptime()
    rows = [measure(lib, r, h, form, args.rounds) for r, h in SHAPES for form in FORMS]
    for row in rows:
        print(f"{row['rows']:4d} x {row['hidden']:3d} {row['form']:7s} {row['status']:24s} "
              f"sgemm {row['sgemm_us']:7.1f} us  jit {row['jit_us']:7.1f} us  ({row['jit_over_sgemm']:.2f}x)"
              f"  equal {row['results_equal']}")
    out = {"benchmark": "mkl_jit", "library": path, "rounds": args.rounds, "shapes": rows,
           "command": f"python benchmarks/bench_mkl_jit.py --rounds {args.rounds}",
           "machine": machine_info(), "uptime_start": start, "uptime_end": uptime(),
           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
