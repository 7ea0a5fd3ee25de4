"""Compile kernels into Numba's on-disk cache in a second process, while this one compiles others.

A cold start spends most of its time in Numba and LLVM, on one core. The rollout, the update and the
evaluation are separate kernels with separate call trees, so a training run hands the update's compile to
a child process (the second core) and compiles the rollout itself; when the update is first called, Numba
finds it in the cache. The child then compiles the evaluation's kernels, which the run needs only after
its first update: that work no longer waits until both cores' compiles are done, on one core. A child
writes the cache entries of its own kernels and of nothing else: two processes that save entries of the
same function at once can pair an index entry with the other's data file, so a child must never save a
function that this process compiles meanwhile (tests/test_background_compile.py checks the training
kernels' callees).

The child compiles its kernels for the signatures it is given and says so on its standard output; then,
if given a game, it runs `numbaplay.eval.evaluate.compile_evaluation(game)` (a quick evaluation of a
stand-in policy, so that the evaluation's own code gives its kernels their arguments), saving only the
kernels `numbaplay.eval.evaluate.evaluation_kernels(game)` lists.

If the kernels are already compiled (in memory or in the cache), if this process may use only one core or
runs Numba on one thread, or if the environment sets NUMBAPLAY_BACKGROUND_COMPILE=0, nothing is
started. If a child fails or is slow, the caller compiles the kernels itself, as it would have anyway;
results never depend on which process compiled a kernel. Child protocol: `python -m
numbaplay.background_compile`, reading a pickled {"kernels": [(module, function name, signature), ...],
"evaluation": game or None} from standard input.
"""
from __future__ import annotations

import importlib
import os
import pickle
import select
import subprocess
import sys
import time

# The parent compiles the kernels itself if the child has not finished them by then.
WAIT_S = 600.0


def signature_of(dispatcher, args) -> tuple:
    """The argument types a call `dispatcher(*args)` from Python compiles for."""
    return tuple(dispatcher.typeof_pyval(a) for a in args)


def enabled() -> bool:
    """Background compiles are on unless NUMBAPLAY_BACKGROUND_COMPILE=0, Numba is set to one thread (as
    `--threads 1` does: the user asked for one core), or only one core is usable."""
    import numba

    from numbaplay.sysinfo import core_count

    if os.environ.get("NUMBAPLAY_BACKGROUND_COMPILE", "1") == "0" or numba.get_num_threads() < 2:
        return False
    return core_count() >= 2


def needs_compile(dispatcher, sig) -> bool:
    """True if `sig` is neither compiled in this process nor in the on-disk cache.

    False whenever that cannot be told (caching off, or the cache's layout not as expected), so that
    nothing is started in doubt.
    """
    if sig in dispatcher.overloads:
        return False
    cache = getattr(dispatcher, "_cache", None)
    try:
        key = cache._index_key(sig, dispatcher.targetctx.codegen())
        return key not in cache._cache_file._load_index()
    except Exception:
        return False


def cached_at_all(dispatcher) -> bool:
    """True if the on-disk cache holds some entry of `dispatcher` for its current source (any signature);
    True as well whenever that cannot be told, so that nothing is started in doubt."""
    if dispatcher.overloads:
        return True
    cache = getattr(dispatcher, "_cache", None)
    try:
        return bool(cache._cache_file._load_index())
    except Exception:
        return True


class BackgroundCompile:
    """A child process putting kernels' compiled code into the cache.

    kernels: (dispatcher, args) pairs, compiled in order for the signatures a call `dispatcher(*args)`
    from Python would compile; `wait_kernels()` before calling any of them. evaluation: a game whose
    evaluation kernels the child compiles next, while this process goes on; `wait()` before evaluating.
    """

    def __init__(self, kernels, evaluation: str | None = None):
        self.proc = None
        self._kernels_done = False
        todo = []
        for dispatcher, args in kernels:
            sig = signature_of(dispatcher, args)
            if needs_compile(dispatcher, sig):
                todo.append((dispatcher.py_func.__module__, dispatcher.py_func.__name__, sig))
        if evaluation is not None:
            from numbaplay.eval.evaluate import evaluation_kernels

            if all(cached_at_all(d) for d in evaluation_kernels(evaluation)):
                evaluation = None
        self.needed = bool(todo) or evaluation is not None  # a cold start, whether or not a child helps
        if not self.needed or not enabled():
            return
        payload = pickle.dumps({"kernels": todo, "evaluation": evaluation})
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "numbaplay.background_compile"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL)
            self.proc.stdin.write(payload)
            self.proc.stdin.close()
        except OSError:
            self.proc = None
        self._deadline = time.monotonic() + WAIT_S

    @property
    def started(self) -> bool:
        return self.proc is not None

    def wait_kernels(self) -> None:
        """Return once the child has saved `kernels` (it says so on a line of its standard output), has
        ended, or has run out of time; it may go on with the evaluation."""
        while self.proc is not None and not self._kernels_done:
            left = self._deadline - time.monotonic()
            ready = select.select([self.proc.stdout], [], [], max(left, 0.0))[0]
            line = self.proc.stdout.readline() if ready else b""
            if line.strip() == b"kernels":
                self._kernels_done = True
            elif not line:  # ended (or out of time): whatever it did not save, the caller compiles
                self.wait()

    def wait(self) -> bool:
        """Wait for the child to end; True if it compiled everything it was given into the cache."""
        if self.proc is None:
            return False
        try:
            ok = self.proc.wait(timeout=max(self._deadline - time.monotonic(), 0.0)) == 0
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            ok = False
        self.proc.stdout.close()
        self.proc = None
        return ok


def save_only(targets) -> None:
    """From now on, this process writes to Numba's cache the entries of `targets` (dispatchers) alone,
    whatever module defines a kernel and whenever it was imported."""
    from numba.core import caching

    keep = {t.py_func for t in targets}
    save = caching.Cache.save_overload

    def save_kept(self, sig, data):
        if self._py_func in keep:
            save(self, sig, data)

    caching.Cache.save_overload = save_kept


def compile_only(kernels, evaluation: str | None = None) -> None:
    """Compile each (module, name, signature) of `kernels`, then `evaluation`'s kernels if a game is given,
    saving to the cache those kernels alone (see the module doc)."""
    targets = [getattr(importlib.import_module(module), name) for module, name, _ in kernels]
    if evaluation is not None:
        import numba

        from numbaplay.eval.evaluate import compile_evaluation, evaluation_kernels

        save_only(targets + evaluation_kernels(evaluation))
        numba.set_num_threads(1)  # the evaluation runs too: on one core, beside the parent
    else:
        save_only(targets)
    for (_, _, sig), target in zip(kernels, targets):
        target.compile(sig)
    sys.stdout.write("kernels\n")  # the parent may call them now (`BackgroundCompile.wait_kernels`)
    sys.stdout.flush()
    if evaluation is not None:
        compile_evaluation(evaluation)


def main() -> int:
    job = pickle.loads(sys.stdin.buffer.read())
    compile_only(job["kernels"], job["evaluation"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
