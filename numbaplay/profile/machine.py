"""What this machine can do at best: single-precision GEMM peak and memory bandwidth, measured once.

Peak: `sgemm` on square float32 matrices through `numbaplay.nn.blas.gemm_nt`, i.e. the very BLAS the
network kernels call (MKL or SciPy's OpenBLAS, `numbaplay.nn.blas.kernel_blas`), the way the kernels
call it: single-threaded calls, one per Numba thread, on 1 thread and on every core (the rows of the
product cut into one block per thread); the best of a few rounds, `2 n^3` FLOPs each. Bandwidth: the
best of a few passes of a copy (`b = a`, 2 x 4 bytes per element) and a STREAM triad (`a = b + s c`,
3 x 4 bytes) over arrays far larger than the L2 cache, serial and `prange` over every core.

Every rate is kept twice: per wall second (what the machine gave at the time; a shared machine gives
less) and per CPU second of the process (what a core does while it runs; for one thread this is close
to the hardware's peak whatever the load).

Results are cached in `machine.json` under `$NUMBAPLAY_CACHE_DIR` (default `~/.cache/numbaplay`), keyed
by CPU model, core count and kernel BLAS, with the load (`uptime`) at the time they were measured: a
busy machine measures low, so `refresh=True` measures again.

BLAS thread limits: threadpoolctl changes only the libraries already loaded when a limit is set; the
kernels' BLAS is loaded when `numbaplay.nn.blas` is imported (this module imports it).
`blas_threads_in_effect` reports what every loaded BLAS really uses.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import time
from pathlib import Path

import numba
import numpy as np
from numba import get_num_threads, njit, prange

from numbaplay.fileio import write_atomic
from numbaplay.nn.blas import gemm_nt, kernel_blas
from numbaplay.omp import launch_threads
from numbaplay.sysinfo import core_count, cpu_model

launch_threads()  # before any cached kernel loads (numbaplay/omp.py)

CACHE_FILE = "machine.json"
GEMM_N = 2048
"""Side of the square matrices of the peak measurement (17 GFLOP per call)."""
ARRAY_MB = 64
"""Size of each array of the bandwidth measurement (three of them for the triad)."""


def cache_dir() -> Path:
    """`$NUMBAPLAY_CACHE_DIR`, else `~/.cache/numbaplay`."""
    env = os.environ.get("NUMBAPLAY_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "numbaplay"


def machine_key() -> str:
    """The cache key: CPU model, usable core count and the kernels' BLAS."""
    return f"{cpu_model()} | {core_count()} cores | {kernel_blas()}"


def uptime() -> str:
    """`uptime`'s line (load averages), or the 1/5/15-minute load averages where it is missing."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        one, five, fifteen = os.getloadavg()
        return f"load average: {one:.2f}, {five:.2f}, {fifteen:.2f}"


# -- BLAS threads ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def blas_limits(threads: int):
    """Every BLAS (the kernels' included) limited to `threads` threads inside the block."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads, user_api="blas"):
        yield


def blas_threads_in_effect() -> dict[str, int]:
    """Thread count of every loaded BLAS library, by file name."""
    from threadpoolctl import threadpool_info

    return {Path(i["filepath"]).name: int(i["num_threads"]) for i in threadpool_info()
            if i.get("user_api") == "blas"}


# -- kernels --------------------------------------------------------------------------------------------
@njit(cache=True)
def _copy(b, a):
    for i in range(a.shape[0]):
        b[i] = a[i]


@njit(cache=True, parallel=True)
def _copy_par(b, a):
    for i in prange(a.shape[0]):
        b[i] = a[i]


@njit(cache=True)
def _triad(a, b, c, s):
    for i in range(a.shape[0]):
        a[i] = b[i] + s * c[i]


@njit(cache=True, parallel=True)
def _triad_par(a, b, c, s):
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


@njit(cache=True, parallel=True)
def _gemm_blocks(c, a, b, blocks):
    """c = a @ b.T as `blocks` single-threaded GEMMs on blocks of rows, one per Numba thread."""
    n = a.shape[0]
    for p in prange(blocks):
        lo = p * n // blocks
        hi = (p + 1) * n // blocks
        gemm_nt(c[lo:hi], a[lo:hi], b, np.float32(0.0))


def _best_seconds(fn, repeats: int) -> tuple[float, float]:
    """(best wall seconds, best process CPU seconds) of `repeats` calls after a warm-up call."""
    fn()  # warm-up: compile or load, page in
    wall = cpu = float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def measure_gemm_gflops(n: int = GEMM_N, threads: int = 1, repeats: int = 3) -> tuple[float, float]:
    """(GFLOP per wall second, GFLOP per CPU second) of the best `n x n x n` float32 GEMM through the
    kernels' BLAS, done as `threads` single-threaded GEMMs on blocks of rows in parallel (as the kernels
    call it). Per CPU second is per core: CPU time adds up over threads."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    c = np.zeros((n, n), np.float32)
    threads = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
    before = get_num_threads()
    numba.set_num_threads(threads)
    try:
        with blas_limits(1):
            wall, cpu = _best_seconds(lambda: _gemm_blocks(c, a, b, threads), repeats)
    finally:
        numba.set_num_threads(before)
    flop = 2.0 * n ** 3
    return flop / wall / 1e9, flop / max(cpu, 1e-9) / 1e9


def measure_bandwidth_gbs(array_mb: int = ARRAY_MB, parallel: bool = False, repeats: int = 5) -> dict:
    """Best copy and triad bandwidth in GB per wall second and per CPU second (bytes read + written,
    write-allocate not counted)."""
    size = array_mb * 2 ** 20 // 4
    a = np.ones(size, np.float32)
    b = np.ones(size, np.float32)
    c = np.ones(size, np.float32)
    copy, triad = (_copy_par, _triad_par) if parallel else (_copy, _triad)
    w_copy, c_copy = _best_seconds(lambda: copy(b, a), repeats)
    w_triad, c_triad = _best_seconds(lambda: triad(a, b, c, np.float32(0.5)), repeats)
    copy_bytes, triad_bytes = 2 * 4 * size, 3 * 4 * size
    return {"copy": copy_bytes / w_copy / 1e9, "triad": triad_bytes / w_triad / 1e9,
            "copy_per_cpu_s": copy_bytes / max(c_copy, 1e-9) / 1e9,
            "triad_per_cpu_s": triad_bytes / max(c_triad, 1e-9) / 1e9}


VERSION = 3
"""Format of a cache entry; entries of another version are measured again."""


def measure(gemm_n: int = GEMM_N, array_mb: int = ARRAY_MB, on_progress=None) -> dict:
    """Measure peak and bandwidth now; `on_progress(text)` is told what is being measured.

    Wall-clock rates are what the machine gave at the time (a shared machine gives less); rates per CPU
    second are what a core does while it runs, close to the hardware's whatever the load.
    """
    say = on_progress or (lambda text: None)
    cores = core_count()
    load_before = uptime()
    wall, cpu = {}, {}
    for threads in sorted({1, cores}):
        say(f"sgemm {gemm_n}^3 ({kernel_blas()}) on {threads} thread(s)")
        wall[str(threads)], cpu[str(threads)] = measure_gemm_gflops(gemm_n, threads)
    say(f"memory bandwidth ({array_mb} MB arrays)")
    serial = measure_bandwidth_gbs(array_mb, parallel=False)
    par = measure_bandwidth_gbs(array_mb, parallel=True)
    return {
        "version": VERSION, "key": machine_key(), "cpu": cpu_model(), "cores": cores,
        "gemm_gflops": wall,
        "gemm_gflops_per_cpu_s": cpu,
        "bandwidth_gbs": {"1": max(serial["copy"], serial["triad"]),
                          str(cores): max(par["copy"], par["triad"], serial["copy"], serial["triad"])},
        "bandwidth_gbs_per_cpu_s": {"1": max(serial["copy_per_cpu_s"], serial["triad_per_cpu_s"])},
        "copy_gbs": {"1": serial["copy"], "all": par["copy"]},
        "triad_gbs": {"1": serial["triad"], "all": par["triad"]},
        "numba_threads": get_num_threads(), "gemm_n": gemm_n, "array_mb": array_mb,
        "blas": sorted(blas_threads_in_effect()), "kernel_blas": kernel_blas(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"), "uptime_before": load_before,
        "uptime_after": uptime(),
    }


def machine_peaks(refresh: bool = False, gemm_n: int = GEMM_N, array_mb: int = ARRAY_MB,
                  on_progress=None) -> tuple[dict, bool]:
    """This machine's entry from the cache, measuring (and saving) it when missing or `refresh`.

    Returns (entry, cached): cached is True when nothing was measured.
    """
    path = cache_dir() / CACHE_FILE
    key = machine_key()
    data = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
    if not isinstance(data, dict):  # not a cache this module wrote: measured again and replaced
        data = {}
    if not refresh and _usable(data.get(key)):
        return data[key], True
    entry = measure(gemm_n, array_mb, on_progress)
    data[key] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=2) + "\n")
    return entry, False


def _usable(entry) -> bool:
    """Whether a cached entry is this version's and holds every rate the profile reads, as positive numbers
    keyed by thread count (1 among them); anything else is measured again."""
    if not isinstance(entry, dict) or entry.get("version") != VERSION:
        return False
    for table in ("gemm_gflops", "bandwidth_gbs", "gemm_gflops_per_cpu_s", "bandwidth_gbs_per_cpu_s"):
        rates = entry.get(table)
        if not isinstance(rates, dict) or "1" not in rates:
            return False
        try:
            if not all(int(k) >= 1 and math.isfinite(float(v)) and float(v) > 0 for k, v in rates.items()):
                return False
        except (TypeError, ValueError):
            return False
    return True


def peak_at(entry: dict, threads: int) -> tuple[float, float]:
    """(GEMM GFLOP/s, bandwidth GB/s) at `threads` threads: the measured value at that count, or the
    nearest measured count below it (1 thread always exists)."""
    def pick(table):
        counts = sorted(int(k) for k in table)
        best = max([c for c in counts if c <= threads] or counts[:1])
        return float(table[str(best)])

    return pick(entry["gemm_gflops"]), pick(entry["bandwidth_gbs"])


def best_peaks(entry: dict) -> tuple[float, float]:
    """(GEMM GFLOP/s, bandwidth GB/s): the best wall-clock rates measured at any thread count."""
    return max(map(float, entry["gemm_gflops"].values())), max(map(float, entry["bandwidth_gbs"].values()))


def core_peaks(entry: dict) -> tuple[float, float]:
    """(GEMM GFLOP, bandwidth GB) per CPU second of one core: the rates to hold CPU times against."""
    return float(entry["gemm_gflops_per_cpu_s"]["1"]), float(entry["bandwidth_gbs_per_cpu_s"]["1"])
