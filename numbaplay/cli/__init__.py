"""The `numbaplay` command: a click group of thin subcommands over the library."""
from __future__ import annotations

import importlib
import sys

import click

from numbaplay.omp import use_short_spin

use_short_spin()  # before any kernel runs: see numbaplay/omp.py

from numbaplay import __version__  # noqa: E402
from numbaplay.cli.common import fail  # noqa: E402
from numbaplay.errors import NumbaplayError  # noqa: E402

# Subcommands live in their own modules and are imported lazily so `numbaplay --help` stays fast.
_COMMANDS = {
    "train": ("numbaplay.cli.train", "train"),
    "eval": ("numbaplay.cli.evaluate", "eval_cmd"),
    "solve": ("numbaplay.cli.solve", "solve"),
    "play": ("numbaplay.cli.play", "play"),
    "report": ("numbaplay.cli.report", "report"),
    "compare-c": ("numbaplay.cli.compare", "compare_c"),
    "profile": ("numbaplay.cli.profile", "profile"),
    "sweep": ("numbaplay.cli.sweep", "sweep"),
    "ladder": ("numbaplay.cli.ladder", "ladder"),
}


def usage_line(exc: click.UsageError) -> str:
    """A click usage error (unknown option, value out of range, bad choice...) as one line that names the
    problem and where to look, instead of click's usage, hint and error lines."""
    message = " ".join(exc.format_message().split())
    command = exc.ctx.command_path if exc.ctx is not None else "numbaplay"
    return f"{message} (see `{command} --help`)"


class _LazyGroup(click.Group):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """As click's, except that a usage error is one line (`fail`: exit code 2, no traceback), as every
        other bad input is. Called with standalone_mode=False it is click's own."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `numbaplay`: the help, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            fail(usage_line(exc))
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)  # click returns the code of `ctx.exit(code)`

    def list_commands(self, ctx):
        return [name for name in _COMMANDS if self._load(name) is not None]

    def get_command(self, ctx, name):
        return self._load(name)

    @staticmethod
    def _load(name):
        if name not in _COMMANDS:
            return None
        module, attr = _COMMANDS[name]
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:  # a command not built yet; any other import error is real
            if exc.name == module:
                return None
            raise
        except NumbaplayError as exc:  # bad environment found at import, e.g. NUMBAPLAY_BLAS
            fail(str(exc))


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="numbaplay")
def main():
    """Self-play PPO for Tic-Tac-Toe and Connect Four, in Numba, measured exactly."""
