"""What every subcommand shares: one-line errors with exit code 2, and a progress bar."""
from __future__ import annotations

import functools
import sys
import time

import click

from numbaplay.errors import NumbaplayError


def fail(message: str) -> None:
    """Print one line naming the problem and exit with code 2 (no traceback). Characters that would break
    the line or drive the terminal (a newline in a path, an escape sequence typed as a position) are
    printed as escapes."""
    message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message))
    click.echo(f"numbaplay: error: {message}", err=True)
    sys.exit(2)


def guarded(func):
    """Decorator for a click command: NumbaplayError (and OSError) become `fail(...)`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except NumbaplayError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        except MemoryError:
            fail("not enough memory for this command's arrays")

    return wrapper


class Progress:
    """A one-line progress bar on stderr with ETA and live metrics.

    Redraws in place on a terminal; prints at most one line every `min_interval` seconds elsewhere.
    """

    def __init__(self, total: int, label: str = "", min_interval: float = 0.2):
        self.total = max(int(total), 1)
        self.label = label
        self.start = time.perf_counter()
        self.last = 0.0
        self.min_interval = min_interval
        self.tty = sys.stderr.isatty()
        if not self.tty:
            self.min_interval = max(min_interval, 5.0)

    def update(self, done: int, metrics: dict | None = None, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last < self.min_interval and done < self.total:
            return
        self.last = now
        elapsed = now - self.start
        frac = min(done / self.total, 1.0)
        eta = elapsed / done * (self.total - done) if done > 0 else float("nan")
        width = 24
        filled = int(round(frac * width))
        bar = "#" * filled + "-" * (width - filled)
        parts = [f"{self.label} [{bar}] {done}/{self.total}",
                 f"{elapsed:6.1f}s", f"eta {eta:5.1f}s" if eta == eta else "eta   ?"]
        for key, value in (metrics or {}).items():
            parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
        line = "  ".join(parts)
        if self.tty:
            click.echo("\r" + line[:200] + "\x1b[K", err=True, nl=False)
        else:
            click.echo(line, err=True)

    def close(self) -> None:
        if self.tty:
            click.echo("", err=True)
