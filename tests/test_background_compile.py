"""The background compile puts exactly one kernel into a cold cache, the parent then loads it, and no other
training kernel calls it (the parent compiles those meanwhile)."""
import json
import os
import subprocess
import sys
import textwrap
import types

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


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _callees(dispatcher) -> set:
    """The kernels a kernel's source names: globals, and attributes of modules it names."""
    from numba.core.dispatcher import Dispatcher

    found = set()
    scope = dispatcher.py_func.__globals__
    for code in _code_objects(dispatcher.py_func.__code__):
        for name in code.co_names:
            value = scope.get(name)
            if isinstance(value, Dispatcher):
                found.add(value)
            elif isinstance(value, types.ModuleType):
                found.update(v for v in (getattr(value, n, None) for n in code.co_names)
                             if isinstance(v, Dispatcher))
    return found


def test_no_other_training_kernel_calls_the_update_kernels():
    """The child saves the update kernel while this process compiles the rollout, the packing and GAE:
    none of those (nor any other kernel of numbaplay.ppo and numbaplay.nn) may reach it, or two processes
    could write entries of one function at once."""
    import importlib
    import pkgutil

    from numba.core.dispatcher import Dispatcher

    import numbaplay.nn
    import numbaplay.ppo
    from numbaplay.ppo.update import ppo_epochs, ppo_epochs_mlp

    saved = {ppo_epochs, ppo_epochs_mlp}
    roots = set()
    for package in (numbaplay.ppo, numbaplay.nn):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            roots.update(v for v in vars(module).values() if isinstance(v, Dispatcher))
    roots -= saved
    reached, todo = set(), list(roots)
    while todo:
        for callee in _callees(todo.pop()):
            if callee not in reached:
                reached.add(callee)
                todo.append(callee)
    assert len(roots) > 20 and len(reached) > 20
    assert not reached & saved, sorted(d.py_func.__qualname__ for d in reached & saved)
