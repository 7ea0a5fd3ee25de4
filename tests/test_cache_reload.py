"""A cached kernel that calls a parallel kernel loaded from the cache must still load in a fresh process
(`numbaplay.omp.launch_threads`: Numba saves such a caller without the hook that starts its threading
layer, numba/numba#8578). Each step runs in its own process on an empty cache of its own."""
import os
import subprocess
import sys
import textwrap

MODULE = textwrap.dedent("""
    import numpy as np
    from numba import njit, prange

    @njit(cache=True, parallel=True)
    def inner(a):
        for i in prange(a.shape[0]):
            a[i] += 1.0

    @njit(cache=True)
    def outer(a):
        inner(a)
        return a.sum()
""")

STEP = textwrap.dedent("""
    import sys
    import numpy as np
    {prelude}
    import kernels
    a = np.zeros(1000)
    if sys.argv[1] == "inner":
        kernels.inner(a)
        print(a.sum())
    else:
        print(kernels.outer(a))
""")


def run_step(tmp_path, which, prelude):
    script = tmp_path / "step.py"
    script.write_text(STEP.format(prelude=prelude))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(tmp_path)}
    return subprocess.run([sys.executable, str(script), which], env=env, capture_output=True, text=True,
                          timeout=300)


def test_caller_of_a_cached_parallel_kernel_loads_after_launch_threads(tmp_path):
    (tmp_path / "kernels.py").write_text(MODULE)
    prelude = "import numbaplay.games.core  # a numbaplay kernel module: starts the threading layer"
    first = run_step(tmp_path, "inner", prelude)  # caches the parallel kernel only
    assert first.returncode == 0 and first.stdout.split() == ["1000.0"], first.stderr
    second = run_step(tmp_path, "outer", prelude)  # compiles the caller against the cached callee
    assert second.returncode == 0 and second.stdout.split() == ["1000.0"], second.stderr
    # Loads the caller from the cache. Without the threading layer running first this process dies
    # with SIGSEGV (Numba 0.68.1): the loaded caller's first instruction calls address 0.
    third = run_step(tmp_path, "outer", prelude)
    assert third.returncode == 0 and third.stdout.split() == ["1000.0"], (third.returncode, third.stderr[-500:])
