"""Replay the stored ladder's round robin with the current players and compare every game.

The packaged ladder (`numbaplay/data/ladder-v1.json`) keeps, for every pairing, each opening's score
summed over both colours and all repeats. This plays the same round robin again (same players,
openings, repeats and seed) with the code as it is now and checks that every pairing's opening scores
are the ones stored: a change to how the players find their moves (a faster search, a cache) must not
change a single move's outcome, or the stored ratings would no longer describe the players agents meet.

    python scripts/replay_ladder.py --out results/bench/ladder_replay.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numba

from numbaplay.eval.ladder import load_ladder, round_robin
from numbaplay.profile.machine import uptime

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/bench/ladder_replay.json")
    args = ap.parse_args()
    ladder = load_ladder(None)
    names = ladder["results"]["players"]
    stored = {(p["a"], p["b"]): p["opening_scores"] for p in ladder["pairings"]}
    load_before = uptime()
    t = time.perf_counter()
    results = round_robin(names, repeats=ladder["repeats"], seed=ladder["seed"])
    wall = time.perf_counter() - t
    differ = []
    for r in results:
        got = [float(x) for x in r.opening_scores()]
        if got != stored[(r.a, r.b)]:
            differ.append({"a": r.a, "b": r.b, "openings_differing": sum(x != y for x, y in
                                                                         zip(got, stored[(r.a, r.b)]))})
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    out = {"command": f"python scripts/replay_ladder.py --out {args.out}", "commit": head,
           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "ladder": ladder["version"],
           "ladder_built": ladder["date"], "ladder_build_s": ladder["wall_time_s"]["games"],
           "ladder_build_threads": ladder["machine"]["numba_threads"], "numba_threads": numba.get_num_threads(),
           "pairings": len(results), "games": int(sum(r.games for r in results)), "replay_s": wall,
           "pairings_differing": differ, "identical": not differ, "load_before": load_before,
           "load_after": uptime()}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"{len(results)} pairings, {out['games']} games replayed in {wall:.1f} s with {out['numba_threads']} "
          f"Numba threads (the build: {out['ladder_build_s']:.1f} s with {out['ladder_build_threads']}); "
          f"every opening score as stored: {not differ}")
    return 0 if not differ else 1


if __name__ == "__main__":
    sys.exit(main())
