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

    libgomp reads it once, when it starts: call this before the threading layer starts. `launch_threads`
    does, when a kernel module is imported; the `numbaplay` command and every benchmark call it first
    too, so that they time what training runs."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", SPINCOUNT)


def launch_threads() -> None:
    """Start Numba's threading layer now, with the short spin unless the environment sets one
    (`use_short_spin`); nothing happens once it runs.

    Every module that defines a parallel kernel calls this when it is imported, so the layer runs before
    any cached kernel is loaded. The reason is a Numba caching bug (numba/numba#8578, #4807; reproduced
    with Numba 0.68.1): a cached kernel that calls a parallel kernel loaded from the cache, rather than
    compiled in the same process, is saved without the hook that starts the threading layer when it is
    loaded. Loaded into a process where the layer is not running yet, none of its external symbols is
    resolved and its first call jumps to address 0. Seen here: after a process ran `Trainer` rollouts
    (which cache the parallel `forward_nets`), a second process's `load_agent(...).probs(...)` compiled
    and cached the agent's forward (`forward_pieces`, which calls `forward_nets`), and a third one
    crashed loading it. tests/test_cache_reload.py checks the mechanism."""
    use_short_spin()
    import numba

    numba.get_num_threads()  # starts the layer (numba.np.ufunc.parallel._launch_threads)


def prange_only() -> dict:
    """Numba's `parallel=` options for a kernel whose only parallel code is its `prange` loops: no array
    expression, allocation or reduction becomes a parallel region of its own.

    A `prange` inside the kernel that runs it, instead of inside a small parallel kernel it calls, saves a
    compile: Numba links every callee's code into its caller and optimises and emits it again there, so
    each kernel between the loop and the top level costs one more pass over everything below it. Without
    the small parallel kernels the update called for its shards (`_shard_steps_par`, `_unit_pair`), the
    update kernel compiled in 15.8 to 16.4 s alone in a process against 17.0 to 18.4 s (connect4 and
    tictactoe presets, two alternating rounds each), and `train` started cold 1.2 s sooner (tictactoe: 95%
    interval 0.1 to 2.4 s; connect4: 1.3 s, -0.4 to 3.0 s; results/bench/ab_update_prange_*.json)."""
    return {"comprehension": False, "reduction": False, "inplace_binop": False, "setitem": False,
            "numpy": False, "stencil": False, "fusion": False, "prange": True}


# The environment that decides how the kernels' threads behave; benchmarks record it with their results.
ENV_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NUMBA_THREADING_LAYER", "NUMBA_NUM_THREADS", "NUMBA_CACHE_DIR")


def threading_env() -> dict:
    """The value of each of ENV_KEYS in this process's environment (None where unset)."""
    return {k: os.environ.get(k) for k in ENV_KEYS}
