"""Where a cold start's JIT compile time goes: run a numbaplay command and list the slowest compiles.

Numba reports every compile as a `numba:compile` event; this script times each one (nested: a kernel's
time includes the callees it compiled first) and prints the slowest to stderr after the command ends. Use
an empty Numba cache, or nothing compiles:

    NUMBA_CACHE_DIR=$(mktemp -d) python scripts/compile_times.py train tictactoe --iterations 1 --no-report
"""
import atexit
import runpy
import sys
import time

from numba.core import event


class _CompileTimes(event.Listener):
    def __init__(self):
        self.started = {}
        self.done = []

    @staticmethod
    def _key(ev):
        return id(ev.data["dispatcher"]), str(ev.data["args"])

    def on_start(self, ev):
        self.started[self._key(ev)] = time.perf_counter()

    def on_end(self, ev):
        t0 = self.started.pop(self._key(ev), None)
        if t0 is not None:
            fn = ev.data["dispatcher"].py_func
            self.done.append((time.perf_counter() - t0, f"{fn.__module__}.{fn.__qualname__}"))


def main(top: int = 30) -> None:
    times = _CompileTimes()
    event.register("numba:compile", times)

    @atexit.register
    def report():
        print(f"slowest compiles (seconds, callees included), {len(times.done)} in all:", file=sys.stderr)
        for seconds, name in sorted(times.done, reverse=True)[:top]:
            print(f"{seconds:8.2f}  {name}", file=sys.stderr)

    sys.argv = ["numbaplay"] + sys.argv[1:]
    runpy.run_module("numbaplay", run_name="__main__")


if __name__ == "__main__":
    main()
