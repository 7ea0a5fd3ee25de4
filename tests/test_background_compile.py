"""The background compiles put exactly their kernels into a cold cache, and the parent then loads them;
no kernel a child saves is compiled by the training path meanwhile."""
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
    job = BackgroundCompile([(minibatch_bounds, args)])
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
    assert not BackgroundCompile([(even_cuts, args)]).started
    cold = (np.int64(9), np.int64(4))
    monkeypatch.setattr(background_compile, "needs_compile", lambda dispatcher, sig: True)  # as if cold
    old = numba.get_num_threads()
    numba.set_num_threads(1)  # as `--threads 1`
    try:
        job = BackgroundCompile([(even_cuts, cold)])
    finally:
        numba.set_num_threads(old)
    assert job.needed and not job.started
    monkeypatch.setenv("NUMBAPLAY_BACKGROUND_COMPILE", "0")
    job = BackgroundCompile([(even_cuts, cold)])
    assert job.needed and not job.started  # a cold signature, but switched off


EVALUATION_SCRIPT = textwrap.dedent("""
    import json, pathlib, sys
    from numbaplay.background_compile import BackgroundCompile
    from numbaplay.eval.evaluate import compile_evaluation, evaluation_kernels

    from numbaplay.background_compile import needs_compile, signature_of
    from numbaplay.ppo.update import minibatch_bounds

    args = (10, 3)
    job = BackgroundCompile([(minibatch_bounds, args)], evaluation="tictactoe")
    job.wait_kernels()  # the child says when its kernels are saved, then goes on with the evaluation's
    kernel_saved = not needs_compile(minibatch_bounds, signature_of(minibatch_bounds, args))
    started, ok = job.started, job.wait()
    files = sorted(f.name for f in pathlib.Path(sys.argv[1]).rglob("*") if f.is_file())
    again = BackgroundCompile([], evaluation="tictactoe").needed
    compile_evaluation("tictactoe")
    kernels = evaluation_kernels("tictactoe")
    print(json.dumps({"started": started, "ok": ok, "again": again, "files": files, "kernel_saved": kernel_saved,
                      "names": [k.py_func.__name__ for k in kernels],
                      "misses": sum(sum(k.stats.cache_misses.values()) for k in kernels),
                      "hits": [sum(k.stats.cache_hits.values()) for k in kernels]}))
""")


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2 or len(os.sched_getaffinity(0)) < 2,
                    reason="background compiles need two cores")
def test_child_compiles_its_kernel_then_the_evaluation_kernels_and_saves_nothing_else(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    env.pop("NUMBAPLAY_BACKGROUND_COMPILE", None)
    out = subprocess.run([sys.executable, "-c", EVALUATION_SCRIPT, str(cache)], env=env, capture_output=True,
                         text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["started"] and res["ok"] and not res["again"] and res["kernel_saved"]
    assert res["misses"] == 0 and all(h >= 1 for h in res["hits"])  # the parent loaded every one of them
    saved = {f.split("-")[0] for f in res["files"]}
    assert saved == {"update.minibatch_bounds", *(f"tictactoe_exact.{name}" for name in res["names"])}, res["files"]


@pytest.mark.parametrize("game", ["tictactoe", "connect4"])
def test_the_stand_in_evaluation_compiles_every_signature_an_agent_evaluation_calls(game):
    from numbaplay.agent import Agent
    from numbaplay.eval.evaluate import compile_evaluation, evaluate_agent, evaluation_kernels
    from numbaplay.games import get_game
    from numbaplay.nn.params import NetSpec, init_params

    kernels = evaluation_kernels(game)
    compile_evaluation(game)
    before = [set(k.signatures) for k in kernels]
    assert all(before)
    g = get_game(game)
    spec = NetSpec("mlp", g.obs_size, 16, 1, g.n_actions)
    evaluate_agent(Agent(game, spec, init_params(spec, 0)), quick=True, seed=3)
    assert [set(k.signatures) for k in kernels] == before


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


def test_no_training_kernel_compiles_what_the_child_saves():
    """The child saves the update kernel and then the evaluation's kernels while this process compiles the
    rollout, the packing, GAE (and the update, if the child is slow): no other training kernel may reach
    them, or two processes could write entries of one function at once."""
    import importlib
    import pkgutil

    from numba.core.dispatcher import Dispatcher

    import numbaplay.nn
    import numbaplay.ppo
    from numbaplay.eval.evaluate import evaluation_kernels
    from numbaplay.ppo.update import ppo_epochs, ppo_epochs_mlp

    saved = {ppo_epochs, ppo_epochs_mlp, *evaluation_kernels("tictactoe"), *evaluation_kernels("connect4")}
    roots = set()
    for package in (numbaplay.ppo, numbaplay.nn):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            roots.update(v for v in vars(module).values() if isinstance(v, Dispatcher))
    roots -= saved
    assert len(roots) > 20
    reached, todo = set(), list(roots)
    while todo:
        for callee in _callees(todo.pop()):
            if callee not in reached:
                reached.add(callee)
                todo.append(callee)
    assert len(reached) > 20
    assert not reached & saved, sorted(d.py_func.__qualname__ for d in reached & saved)
