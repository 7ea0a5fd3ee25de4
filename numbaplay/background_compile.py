"""Compile a kernel into Numba's on-disk cache in a second process, while this one compiles others.

A cold start spends most of its time in Numba and LLVM, on one core. The rollout and the update are
separate kernels with separate call trees, so a run can hand the update's compile to a child process
(the second core) and compile the rollout itself; when the update is first called, Numba finds it in
the cache. The child writes the cache entry of that one kernel and of nothing else: two processes
that save entries of the same function at once can pair an index entry with the other's data file.

If the kernel is already compiled (in memory or in the cache), if this process may use only one core or
runs Numba on one thread, or if the environment sets NUMBAPLAY_BACKGROUND_COMPILE=0, nothing is
started. If the child fails or is slow, the caller compiles the kernel itself, as it would have anyway;
results never depend on which process compiled a kernel. Child protocol: `python -m
numbaplay.background_compile`, reading a pickled (module, function name, signature) from standard input.

Measured and not kept (e9d41b2): the child going on, after the update, with the evaluation's kernels (7 s
of compile for Connect Four, on one core after both cores' compiles otherwise). The parent then waits for
them instead of compiling them, and the cold start of `train connect4` moved by +0.4 s (95% interval
-0.8 to +1.7 s over 4 alternating rounds), of `train tictactoe` by +0.4 s (-2.3 to +3.0 s)
(results/bench/ab_eval_compile_in_child_*.json, scripts/ab_cold_start.py). Tried again after the update
kernel's compile got shorter (32caeee), so that the child finishes before this process's rollout: connect4
+0.7 s (95% interval -4.0 to +5.4 s, 4 rounds; ..._connect4_again.json).
"""
from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys

# The parent compiles the kernel itself if the child has not finished by then.
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


class BackgroundCompile:
    """A child process putting one kernel's compiled code into the cache; `wait()` before calling it."""

    def __init__(self, dispatcher, args):
        self.proc = None
        sig = signature_of(dispatcher, args)
        self.needed = needs_compile(dispatcher, sig)  # a cold start, whether or not a child helps
        if not self.needed or not enabled():
            return
        payload = pickle.dumps((dispatcher.py_func.__module__, dispatcher.py_func.__name__, sig))
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "numbaplay.background_compile"],
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            self.proc.stdin.write(payload)
            self.proc.stdin.close()
        except OSError:
            self.proc = None

    @property
    def started(self) -> bool:
        return self.proc is not None

    def wait(self) -> bool:
        """Wait for the child; True if it compiled the kernel into the cache."""
        if self.proc is None:
            return False
        try:
            ok = self.proc.wait(timeout=WAIT_S) == 0
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            ok = False
        self.proc = None
        return ok


def _dispatchers():
    from numba.core.dispatcher import Dispatcher

    for name, mod in list(sys.modules.items()):
        if name == "numbaplay" or name.startswith("numbaplay."):
            for value in list(vars(mod).values()):
                if isinstance(value, Dispatcher):
                    yield value


def compile_only(module: str, name: str, sig: tuple) -> None:
    """Compile `module.name` for `sig`, saving to the cache that kernel alone (see the module doc)."""
    from numba.core.caching import NullCache

    target = getattr(importlib.import_module(module), name)
    for disp in _dispatchers():
        if disp is not target:
            disp._cache = NullCache()
    target.compile(sig)


def main() -> int:
    module, name, sig = pickle.loads(sys.stdin.buffer.read())
    compile_only(module, name, sig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
