"""The background compile puts exactly one kernel into a cold cache, and the parent then loads it."""
import json
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

from numbaplay import background_compile
from numbaplay.background_compile import BackgroundCompile, needs_compile, signature_of
from numbaplay.nn.rows import even_cuts

SCRIPT = textwrap.dedent("""
    import json
    from numbaplay.background_compile import BackgroundCompile, needs_compile, signature_of
    from numbaplay.ppo.update import minibatch_bounds

    args = (10, 3)
    sig = signature_of(minibatch_bounds, args)
    before = needs_compile(minibatch_bounds, sig)
    job = BackgroundCompile(minibatch_bounds, args)
    started = job.started
    ok = job.wait()
    after = needs_compile(minibatch_bounds, sig)
    cuts = [int(c) for c in minibatch_bounds(*args)]
    print(json.dumps({"before": before, "started": started, "ok": ok, "after": after, "cuts": cuts,
                      "hits": minibatch_bounds.stats.cache_hits[sig],
                      "misses": minibatch_bounds.stats.cache_misses[sig]}))
""")


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2 or len(os.sched_getaffinity(0)) < 2,
                    reason="background compiles need two cores")
def test_child_compiles_into_the_cache_and_the_parent_loads_it(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    env.pop("NUMBAPLAY_BACKGROUND_COMPILE", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["before"] and res["started"] and res["ok"]
    assert not res["after"]
    assert res["hits"] == 1 and res["misses"] == 0  # the parent loaded it, it did not compile it
    assert res["cuts"] == [0, 3, 6, 8, 10]  # batches of at most 3, sizes differing by one
    names = [p.name for p in cache.rglob("*") if p.is_file()]
    assert any(n.startswith("update.minibatch_bounds") for n in names)
    # The callee was compiled in the child too, but only the target's entry was written.
    assert not any("even_cuts" in n for n in names), names


def test_nothing_starts_when_compiled_or_switched_off(monkeypatch):
    args = (np.int64(7), np.int64(2))
    even_cuts(*args)
    assert not needs_compile(even_cuts, signature_of(even_cuts, args))
    assert not BackgroundCompile(even_cuts, args).started
    cold = (np.int64(9), np.int64(4))
    monkeypatch.setattr(background_compile, "needs_compile", lambda dispatcher, sig: True)  # as if cold
    old = numba.get_num_threads()
    numba.set_num_threads(1)  # as `--threads 1`
    try:
        job = BackgroundCompile(even_cuts, cold)
    finally:
        numba.set_num_threads(old)
    assert job.needed and not job.started
    monkeypatch.setenv("NUMBAPLAY_BACKGROUND_COMPILE", "0")
    job = BackgroundCompile(even_cuts, cold)
    assert job.needed and not job.started  # a cold signature, but switched off
