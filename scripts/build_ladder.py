"""Build the Connect Four Elo ladder and its report.

    nice python scripts/build_ladder.py                  # play, fit, write both files
    python scripts/build_ladder.py --render-only         # rewrite results/ladder.md from the JSON

Writes `numbaplay/data/ladder-v1.json` (the stored ladder agents are rated against) and
`results/ladder.md` (the same numbers as tables, with how they were made). Every number in the report
comes from the JSON.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from numbaplay.eval.ladder import (
    DEFAULT_REPEATS,
    DEFAULT_RESAMPLES,
    LADDER_PATH,
    build_ladder,
    ladder_markdown,
    load_ladder,
    save_ladder,
)
from numbaplay.eval.players import PERFECT_BEFORE, PERFECT_MIN_PLY

ROOT = Path(__file__).resolve().parents[1]


def report(ladder: dict) -> str:
    perfect = ladder["perfect"]
    machine = ladder["machine"]
    wall = ladder["wall_time_s"]
    return f"""# Connect Four Elo ladder ({ladder['version']})

Built {ladder['date']} with

    {ladder['command']}

on {machine['cpu']} ({machine['numba_threads']} Numba threads; Python {machine['python']}, NumPy \
{machine['numpy']}, Numba {machine['numba']}) in {wall['total']:.0f} s ({wall['games']:.0f} s of games).

Round robin among the reference players of `numbaplay/eval/players.py`: every pairing plays each of the
{ladder['openings']['count']} two-ply openings (`{ladder['openings']['version']}`: the first two moves
forced) once with each colour, {ladder['repeats']} times when a player is stochastic (`random`; seed
{ladder['seed']}). Ratings are the joint maximum-likelihood Elo fit with `random` anchored at 0; 95%
intervals by percentile bootstrap ({ladder['bootstrap']['resamples']} resamples, seed
{ladder['bootstrap']['seed']}) over openings within each pairing, both colours of an opening together.
A player with a perfect or zero score has no finite estimate and gets a one-sided 95% bound instead.

`perfect` plays the solver's best-scoring move from ply {perfect['min_ply']} on and plays as
`{perfect['before']}` before (budget: a 98-game match against `ab8` costs about 40 s with the solver
from ply 12, 110 s from ply 10 and 435 s from ply 8 on one core, and the whole build is meant to stay
under 20 minutes). `ab8` searches 8 plies (a few ms a move) and needs no cap.

{ladder_markdown(ladder)}"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(LADDER_PATH), help="ladder JSON to write (or read)")
    ap.add_argument("--report", default=str(ROOT / "results" / "ladder.md"), help="Markdown report")
    ap.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="repeats for stochastic pairings")
    ap.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, help="bootstrap resamples")
    ap.add_argument("--render-only", action="store_true", help="only rewrite the report from the JSON")
    args = ap.parse_args()
    if not args.render_only:
        start = time.perf_counter()

        def progress(done, total, label):
            print(f"[{time.perf_counter() - start:7.1f}s] {done}/{total} {label}", file=sys.stderr, flush=True)

        threads = os.environ.get("NUMBA_NUM_THREADS")
        command = shlex.join([*(["env", f"NUMBA_NUM_THREADS={threads}"] if threads else []),
                              "python", "scripts/build_ladder.py", *sys.argv[1:]])
        ladder = build_ladder(repeats=args.repeats, resamples=args.resamples, command=command,
                              progress=progress)
        assert ladder["perfect"] == {"min_ply": PERFECT_MIN_PLY, "before": PERFECT_BEFORE}
        save_ladder(ladder, args.out)
    ladder = load_ladder(args.out)
    Path(args.report).write_text(report(ladder))
    print(ladder_markdown(ladder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
