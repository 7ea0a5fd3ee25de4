"""A whole `numbaplay train` run at a git revision against the working tree, side by side.

Each round runs the same command once with the package as committed at `--old` and once with the
working tree, in separate processes, alternating which goes first; each side has its own Numba cache,
filled by one uncounted run first. It reports the medians of the command's wall time, of its
evaluations' time (the sum of `time/eval_s` in metrics.jsonl) and of its iterations' time (the sum of
`time/iteration_s`), with the ratios new / old paired by round, and checks that both sides logged the
same metrics (every key but the timings) and the same final evaluation.

    python benchmarks/bench_train_eval.py --old 8fa3e11 --game connect4 --rounds 3
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from numbaplay.profile.machine import uptime  # noqa: E402
from scripts.ab_inprocess import tree_at  # noqa: E402


def train(path: Path, cache: Path, out: Path, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(path), "NUMBA_CACHE_DIR": str(cache)}
    env.setdefault("NUMBAPLAY_C4_DATA", str(ROOT.parent / "shared" / "data" / "connect4"))
    cmd = [sys.executable, "-m", "numbaplay", "train", args.game, "--seed", str(args.seed), "--threads",
           str(args.threads), "--no-report", "--out", str(out)]
    if args.preset:
        cmd += ["--preset", args.preset]
    if args.iterations:
        cmd += ["--iterations", str(args.iterations)]
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    shutil.rmtree(out)
    return {"wall_s": wall, "eval_s": sum(r.get("time/eval_s", 0.0) for r in rows),
            "iterations_s": sum(r["time/iteration_s"] for r in rows),
            "evaluations": sum("time/eval_s" in r for r in rows),
            "metrics": [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows],
            "final_eval": summary["final_eval"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="Git revision of the old side.")
    ap.add_argument("--game", default="connect4")
    ap.add_argument("--preset", default=None, help="Default: the game's own.")
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="results/bench/train_eval_connect4.json")
    args = ap.parse_args()
    old_rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.old], check=True,
                             capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "numbaplay"], check=True,
                                capture_output=True, text=True).stdout.strip())
    work = Path(tempfile.mkdtemp(prefix="bench-train-eval-"))
    load_before = uptime()
    try:
        sides = {"old": (tree_at(args.old, work / "old"), work / "cache-old"),
                 "new": (ROOT, work / "cache-new")}
        for name, (path, cache) in sides.items():  # fill each side's Numba cache; not counted
            train(path, cache, work / f"warm-{name}", args)
        runs = {"old": [], "new": []}
        same = True
        for r in range(args.rounds):
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            got = {}
            for name in order:
                path, cache = sides[name]
                got[name] = train(path, cache, work / f"run-{name}", args)
                print(f"round {r + 1} {name}: {got[name]['wall_s']:.1f} s, evaluations {got[name]['eval_s']:.1f} s",
                      flush=True)
            same &= got["old"]["metrics"] == got["new"]["metrics"] and \
                got["old"]["final_eval"] == got["new"]["final_eval"]
            for name in runs:
                runs[name].append({k: v for k, v in got[name].items() if k not in ("metrics", "final_eval")})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(name, key):
        return float(np.median([x[key] for x in runs[name]]))

    def ratio(key):
        return float(np.median([n[key] / o[key] for n, o in zip(runs["new"], runs["old"])]))

    command = "python benchmarks/bench_train_eval.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None)
    result = {"command": command, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "old": old_rev,
              "new": f"{head}{' + working tree' if dirty else ''}", "load_before": load_before,
              "load_after": uptime(), "runs": runs, "same_metrics": bool(same),
              "median": {name: {k: med(name, k) for k in ("wall_s", "eval_s", "iterations_s")} for name in runs},
              "ratio_new_over_old": {k: ratio(k) for k in ("wall_s", "eval_s", "iterations_s")}}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    m, q = result["median"], result["ratio_new_over_old"]
    print(f"{command}\nold {old_rev}: wall {m['old']['wall_s']:.1f} s, evaluations {m['old']['eval_s']:.1f} s, "
          f"iterations {m['old']['iterations_s']:.1f} s\nnew {result['new']}: wall {m['new']['wall_s']:.1f} s, "
          f"evaluations {m['new']['eval_s']:.1f} s, iterations {m['new']['iterations_s']:.1f} s\n"
          f"new / old (median of rounds): wall {q['wall_s']:.2f}, evaluations {q['eval_s']:.2f}, "
          f"iterations {q['iterations_s']:.2f}; same metrics: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
