"""A/B of a training command's cold start: the package at a git revision against the working tree (or another
revision).

A cold start (empty Numba cache) takes 25-35 s here and moves by a second or two from run to run with the
machine, about what a compile-time change is worth, so the two versions run alternately, the order
swapped every round. Each run of a side gets a fresh Numba cache: first `numbaplay train GAME --preset P
--iterations 1 --eval-every 1 --no-report --threads 2` cold, then the same command again warm. The cold
compile is cold minus warm (as `scripts/measure_startup.py` defines it); the paired differences new - old
come with a 95% t interval.

    python scripts/ab_cold_start.py --old HEAD~1 --preset connect4 --rounds 4 --out results/bench/ab_X.json
    python scripts/ab_cold_start.py --old 8b2d476 --new 47bdda0 --preset tictactoe --rounds 4 --out ...
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_inprocess import ROOT, tree_at  # noqa: E402

from numbaplay.profile.machine import uptime  # noqa: E402
from numbaplay.report.stats import t_interval  # noqa: E402
from numbaplay.sysinfo import git_state  # noqa: E402


def timed_train(tree: Path, game: str, preset: str, cache: Path, out: Path) -> float:
    """Seconds of one `numbaplay train` run of the package under `tree`, with Numba's cache at `cache`."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    env.pop("NUMBAPLAY_BACKGROUND_COMPILE", None)
    cmd = [sys.executable, "-m", "numbaplay", "train", game, "--preset", preset, "--iterations", "1",
           "--eval-every", "1", "--no-report", "--threads", "2", "--out", str(out)]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=tree, env=env, check=True, capture_output=True)
    return time.perf_counter() - t


def short_rev(rev: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], capture_output=True,
                          text=True).stdout.strip()


def interval(diffs: list[float]) -> list[float] | None:
    """[lo, hi] of the mean paired difference's 95% t interval; None below two rounds."""
    if len(diffs) < 2:
        return None
    ci = t_interval(diffs)
    return [ci.lo, ci.hi]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", default="HEAD", help="Git revision of the old side (default HEAD).")
    ap.add_argument("--new", default=None, help="Git revision of the new side (default: the working tree).")
    ap.add_argument("--preset", default="tictactoe")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    from numbaplay.eval.connect4_eval import data_dir
    from numbaplay.presets import preset

    game = preset(args.preset).game
    os.environ.setdefault("NUMBAPLAY_C4_DATA", str(data_dir()))  # the copies do not sit beside shared/
    work = Path(tempfile.mkdtemp(prefix="ab-cold-"))  # the trees, Numba caches (~50 MB a run) and run folders
    runs = {"old": [], "new": []}
    load_start = uptime()
    try:
        trees = {"old": tree_at(args.old, work / "old"),
                 "new": ROOT if args.new is None else tree_at(args.new, work / "new")}
        for r in range(args.rounds):
            for side in (("old", "new") if r % 2 == 0 else ("new", "old")):
                scratch = work / f"{side}-{r}"
                cold = timed_train(trees[side], game, args.preset, scratch / "cache", scratch / "cold")
                warm = timed_train(trees[side], game, args.preset, scratch / "cache", scratch / "warm")
                shutil.rmtree(scratch)
                runs[side].append({"round": r, "cold_s": cold, "warm_s": warm, "compile_s": cold - warm})
                print(f"round {r} {side}: cold {cold:.1f} s, warm {warm:.2f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    diffs = {k: [n[k] - o[k] for o, n in zip(runs["old"], runs["new"])] for k in ("cold_s", "compile_s")}
    new_arg = "" if args.new is None else f" --new {args.new}"
    out = {"command": f"python scripts/ab_cold_start.py --old {args.old}{new_arg} --preset {args.preset} "
                      f"--rounds {args.rounds} --out {args.out}",
           "train_command": f"numbaplay train {game} --preset {args.preset} --iterations 1 --eval-every 1 "
                            "--no-report --threads 2 --out DIR",
           "old": short_rev(args.old),
           "new": git_state(ROOT, short=True) if args.new is None else short_rev(args.new), "runs": runs,
           "median": {side: {k: float(np.median([x[k] for x in rs])) for k in ("cold_s", "warm_s", "compile_s")}
                      for side, rs in runs.items()},
           "new_minus_old": {k: {"mean_s": float(np.mean(d)), "ci95_s": interval(d), "paired": d}
                             for k, d in diffs.items()},
           "uptime_start": load_start, "uptime_end": uptime(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({"median": out["median"], "new_minus_old": {k: {kk: v for kk, v in d.items() if kk != "paired"}
                                                                  for k, d in out["new_minus_old"].items()}},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
