"""The `numbaplay` command: a click group of thin subcommands over the library."""
from __future__ import annotations

import importlib
import os

import click

# GNU OpenMP workers spin before they sleep. Its default spin (300,000 rounds, about a millisecond) steals
# the core from the other thread on a small, shared machine (measured: rollouts 5x slower with 2 threads
# under load), while no spin at all (OMP_WAIT_POLICY=PASSIVE) makes each parallel region cost ~65 us of
# wake-up, and an iteration runs thousands of them. A short spin keeps regions at ~1.5 us.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "20000")

from numbaplay import __version__

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


class _LazyGroup(click.Group):
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


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="numbaplay")
def main():
    """Self-play PPO for Tic-Tac-Toe and Connect Four, in Numba, measured exactly."""
