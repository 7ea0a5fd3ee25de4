"""`benchmarks/bench_threads.py` run several times, one process after another, to show its spread.

On a shared 2-core machine one process's 2-thread rollouts can run at a fraction of their usual speed for
its whole life (a neighbour on the second core), while the next process runs at full speed, so one run's
speed-up says little. Each run's 1-thread and N-thread medians, speed-up, whether every thread count played
the same games, and the load are kept; the summary is the median and range of the speed-ups over runs.

    python scripts/threads_repeats.py --preset tictactoe --runs 5 --repeats 40 --out FILE
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from spread import spread


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="tictactoe")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=40, help="bench_threads.py --repeats for each run.")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_threads.py"
    runs, result = [], None
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "threads.json"
            subprocess.run([sys.executable, str(bench), "--preset", args.preset, "--repeats", str(args.repeats),
                            "--max-threads", "2", "--out", str(out)], stdout=subprocess.DEVNULL, check=True)
            result = json.loads(out.read_text())
        one, two = result["threads"]["1"], result["threads"]["2"]
        runs.append({"one_thread_s": one["median_s"], "two_threads_s": two["median_s"],
                     "speedup": one["median_s"] / two["median_s"], "two_threads_min_s": two["min_s"],
                     "identical_to_1_thread": two["identical_to_1_thread"], "uptime_start": result["uptime_start"],
                     "uptime_end": result["uptime_end"]})
        print(f"run {i + 1}/{args.runs}: speed-up {runs[-1]['speedup']:.2f}", file=sys.stderr)
    summary = {"command": "python scripts/threads_repeats.py " + " ".join(sys.argv[1:]),
               "bench_command": f"python benchmarks/bench_threads.py --preset {args.preset} --repeats {args.repeats} "
                                "--max-threads 2", "preset": args.preset, "machine": result["machine"], "runs": runs,
               **spread(runs, "speedup"), "all_identical": all(r["identical_to_1_thread"] for r in runs)}
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"speed-up median {summary['median_speedup']:.2f} over {len(runs)} runs ({summary['min_speedup']:.2f} to "
          f"{summary['max_speedup']:.2f})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
