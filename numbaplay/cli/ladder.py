"""`numbaplay ladder build`: play the reference players' round robin and store the fitted Elo ladder."""
from __future__ import annotations

import shlex
import sys

import click

from numbaplay.cli.common import Progress, guarded
from numbaplay.config import MAX_SEED
from numbaplay.eval.ladder import (
    DEFAULT_REPEATS,
    DEFAULT_RESAMPLES,
    LADDER_PATH,
    build_ladder,
    ladder_markdown,
    save_ladder,
)


@click.group("ladder")
def ladder():
    """The Connect Four Elo ladder of reference players."""


@ladder.command("build")
@click.option("--out", type=click.Path(dir_okay=False), default=str(LADDER_PATH),
              show_default="numbaplay/data/ladder-v1.json in the package",
              help="Where to write the ladder JSON.")
@click.option("--repeats", type=click.IntRange(min=1), default=DEFAULT_REPEATS, show_default=True,
              help="Times every opening and colour is played when a player is stochastic.")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
              help="Seed of the stochastic players' EVAL streams.")
@click.option("--resamples", type=click.IntRange(min=100), default=DEFAULT_RESAMPLES, show_default=True,
              help="Bootstrap resamples for the 95% intervals.")
@click.option("--markdown", "markdown_out", type=click.Path(dir_okay=False), default=None,
              help="Also write the ladder as Markdown tables to this file.")
@click.option("--force", is_flag=True, help="Overwrite --out and --markdown if they exist (the shipped ladder "
              "is the default --out, so rebuilding it in place needs --force).")
@guarded
def build(out, repeats, seed, resamples, markdown_out, force):
    """Play every pairing of reference players over the 49 two-ply openings, fit Elo, write JSON."""
    from numbaplay.fileio import check_output_file, write_atomic

    check_output_file(out, force, "--out")  # before the round robin (minutes), not after
    if markdown_out:
        check_output_file(markdown_out, force, "--markdown")
    command = shlex.join(["numbaplay", *sys.argv[1:]]) if sys.argv[1:2] == ["ladder"] else \
        shlex.join(["numbaplay", "ladder", "build", "--out", out, "--repeats", str(repeats)])
    bar = Progress(1, "ladder")

    def progress(done, total, label):
        bar.total = total
        bar.update(done, {"pairing": label})

    result = build_ladder(repeats=repeats, seed=seed, resamples=resamples, command=command,
                          progress=progress)
    bar.close()
    save_ladder(result, out)
    table = ladder_markdown(result)
    if markdown_out:
        write_atomic(markdown_out, table)
    click.echo(table)
    click.echo(f"wrote {out} ({result['wall_time_s']['total']:.0f} s)")
