"""`numbaplay solve`: exact Connect Four scores from the perfect solver (numbaplay.eval.solver)."""
from __future__ import annotations

import sys

import click

from numbaplay.cli.common import fail, guarded
from numbaplay.eval.solver import Solver, parse_position


def _parse_line(line: str) -> tuple[str, int | None] | None:
    """`<moves>` or `<moves> <score>` -> (moves, score or None); None for a blank line."""
    fields = line.split()
    if not fields:
        return None
    if len(fields) > 2:
        fail(f"line {line.strip()!r}: expected '<moves>' or '<moves> <score>'")
    if len(fields) == 1:
        return fields[0], None
    try:
        return fields[0], int(fields[1])
    except ValueError:
        fail(f"line {line.strip()!r}: the score {fields[1]!r} is not an integer")
    return None  # unreachable: fail() exits


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


@click.command("solve")
@click.argument("positions", nargs=-1)
@click.option("--analyze", is_flag=True,
              help="Print the score of each of the 7 columns after playing it ('full' if it is full).")
@click.option("--weak", is_flag=True, help="Only win/draw/loss: print 1, 0 or -1 (faster).")
@click.option("--check", is_flag=True,
              help="Exit with code 1 if a score given after a position ('<moves> <score>') disagrees.")
@click.option("--tt-log2", type=click.IntRange(10, 30), default=23, show_default=True,
              help="Transposition table of about 2**N entries (8 bytes each).")
@guarded
def solve(positions: tuple[str, ...], analyze: bool, weak: bool, check: bool, tt_log2: int) -> None:
    """Solve Connect Four POSITIONS exactly (Pascal Pons' notation: the 1-based columns played).

    Without POSITIONS, reads one position a line from stdin, as '<moves>' or '<moves> <score>' (the
    format of Pons' test sets). Prints '<moves> <score>' a line, the score for the side to move:
    positive when it wins (22 minus the stones it has played when it wins), 0 for a draw, negative when
    it loses. '' is the empty board (slow to solve).
    """
    solver = Solver(tt_log2=tt_log2)
    lines = positions if positions else (line.rstrip("\n") for line in sys.stdin)
    disagree = total = 0
    for line in lines:
        parsed = (line, None) if positions and not line.strip() else _parse_line(line)
        if parsed is None:
            continue
        moves, given = parsed
        pos = parse_position(moves)
        if analyze:
            columns = solver.analyze(pos, weak=weak)
            score = max(s for s in columns if s is not None)
            shown = " ".join("full" if s is None else str(s) for s in columns)
        else:
            score = solver.solve(pos, weak=weak)
            shown = str(score)
        click.echo(f"{moves} {shown}")
        if given is not None:
            total += 1
            if (_sign(given) if weak else given) != score:
                disagree += 1
                if check:
                    click.echo(f"numbaplay: check: {moves}: solved {score}, given {given}", err=True)
    if check and disagree:
        click.echo(f"numbaplay: check: {disagree} of {total} given scores disagree", err=True)
        sys.exit(1)
