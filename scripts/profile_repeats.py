"""The same `numbaplay profile` run several times, one process after another, to show its spread.

One profile is one process: its arrays land at new addresses, and on a shared machine its neighbours' load
changes from minute to minute, so a single run's update time can sit far from the typical one. Each run's
fused update (median, min, max over its iterations), the floor of the update phases and their ratio, the
per-phase medians and the load are kept; the summary is the median and range over runs.

    python scripts/profile_repeats.py --runs 9 --out results/machines/amd-epyc-zen4/bench/profile_c4-seed_repeats.json
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from spread import spread

UPDATE_PHASES = ("update/forward", "update/backward", "update/adam")


def summary(report: dict) -> dict:
    u = report["fused"]["update"]
    floor = sum(report["phase_stats"][k]["floor_s"] for k in UPDATE_PHASES)
    return {"update_s": u["median_s"], "update_min_s": u["min_s"], "update_max_s": u["max_s"],
            "iteration_s": report["iteration_s"], "update_floor_s": floor, "update_floor_ratio": u["median_s"] / floor,
            "phases": report["phases"], "uptime_start": report["uptime_start"], "uptime_end": report["uptime_end"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--game", default="connect4")
    ap.add_argument("--preset", default="c4-seed")
    ap.add_argument("--iterations", type=int, default=2)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    cmd = ["profile", args.game, "--preset", args.preset, "--iterations", str(args.iterations), "--json"]
    runs = []
    for i in range(args.runs):
        with tempfile.TemporaryFile("w+") as f:
            subprocess.run([sys.executable, "-m", "numbaplay", *cmd], stdout=f, stderr=subprocess.DEVNULL, check=True)
            f.seek(0)
            report = json.load(f)
        runs.append(summary(report))
        print(f"run {i + 1}/{args.runs}: update {runs[-1]['update_s'] * 1e3:.1f} ms, "
              f"{runs[-1]['update_floor_ratio']:.2f}x its floor", file=sys.stderr)
    ratio = spread(runs, "update_floor_ratio")
    out = {"command": "python scripts/profile_repeats.py " + " ".join(sys.argv[1:]),
           "profile_command": "numbaplay " + " ".join(cmd), "machine": report["machine"],
           "kernel_blas": report.get("kernel_blas"), "runs": runs,
           "median_update_s": spread(runs, "update_s")["median_update_s"], **ratio}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"update {out['median_update_s'] * 1e3:.1f} ms median over {len(runs)} runs; "
          f"{ratio['median_update_floor_ratio']:.2f}x its floor (runs {ratio['min_update_floor_ratio']:.2f}x to "
          f"{ratio['max_update_floor_ratio']:.2f}x)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
