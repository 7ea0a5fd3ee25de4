"""The OpenMP spin that numbaplay's kernels run with (GNU OpenMP: Numba's threading layer here, and the
C reference's).

GNU OpenMP workers spin before they sleep. Its default spin (300,000 rounds, about a millisecond) steals
the core from the other thread on a small, shared machine (measured: rollouts 5x slower with 2 threads
under load), while no spin at all (OMP_WAIT_POLICY=PASSIVE) makes each parallel region cost ~65 us of
wake-up, and an iteration runs thousands of them. A short spin keeps regions at ~1.5 us.
"""
import os

SPINCOUNT = "20000"


def use_short_spin() -> None:
    """Set GOMP_SPINCOUNT to SPINCOUNT unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set already.

    libgomp reads it once, when it starts: call this before the first parallel kernel runs. The
    `numbaplay` command does, and so does every benchmark, so that they time what training runs."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", SPINCOUNT)


# The environment that decides how the kernels' threads behave; benchmarks record it with their results.
ENV_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NUMBA_THREADING_LAYER", "NUMBA_NUM_THREADS", "NUMBA_CACHE_DIR")


def threading_env() -> dict:
    """The value of each of ENV_KEYS in this process's environment (None where unset)."""
    return {k: os.environ.get(k) for k in ENV_KEYS}
