"""Compare Tic-Tac-Toe configurations by what it takes to reach provably optimal play.

Each (configuration, seed) runs `numbaplay train tictactoe --until-optimal` on one Numba thread, `--jobs`
processes at a time. A run's iterations and transitions do not depend on the thread count (SPEC section 5),
so running several at once changes only their wall times, which this script does not compare. Per run:
the iteration at which optimal play was first proved (or none within the configured iterations), the
learner transitions played on the way, and the rows the update processed (transitions times epochs), the
work that dominates an iteration's time. With --full the runs go the whole configured length instead, and
record how many of the last 50 evaluations proved optimal play (does it stay optimal?).

Each configuration is the base preset with the given keys overridden (JSON objects, `{}` is the preset
itself). Writes DIR/runs.jsonl (a line per run, as it finishes), DIR/summary.json and DIR/README.md.

    python scripts/ttt_preset_tuning.py --seeds 0 1 2 3 4 --configs '{}' '{"epochs": 3}' --out DIR
    python scripts/ttt_preset_tuning.py --full --seeds 0 1 --configs '{}' --out DIR
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from seed_runs import new_study, train

from numbaplay.presets import preset
from numbaplay.profile.machine import uptime
from numbaplay.report.stats import t_interval

LAST_EVALS = 50


def one_run(overrides: dict, seed: int, full: bool, scratch: Path) -> dict:
    """Train one configuration and seed in a temporary folder; returns the run's record."""
    work = Path(tempfile.mkdtemp(dir=scratch))
    try:
        cfg_file = work / "config.json"
        cfg_file.write_text(json.dumps(overrides))
        flags = ["--config", str(cfg_file), "--no-report"] + ([] if full else ["--until-optimal"])
        try:
            wall = train("tictactoe", work / "run", seed, 1, "tictactoe", flags)
        except subprocess.CalledProcessError as exc:
            sys.exit(f"run {overrides} seed {seed} failed: {exc.stderr.decode().strip().splitlines()[-1:]}")
        summary = json.loads((work / "run" / "summary.json").read_text())
        metrics = [json.loads(line) for line in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    epochs = preset("tictactoe").replace(**overrides).epochs
    transitions = sum(m["charts/transitions"] for m in metrics)
    evals = [m["eval/optimal"] for m in metrics if "eval/optimal" in m]
    first = next((m["iteration"] for m in metrics if m.get("eval/optimal")), None)
    record = {"config": overrides, "seed": seed, "full": full, "iterations_run": summary["iterations_run"],
              "first_optimal_iteration": first, "transitions": transitions,
              "update_rows": transitions * epochs, "process_wall_s": wall}
    if full:
        last = evals[-LAST_EVALS:]
        record["optimal_share_last_evals"] = sum(bool(v) for v in last) / len(last)
        record["last_evals"] = len(last)
    return record


def summarise(records: list[dict]) -> list[dict]:
    """Per configuration: runs, how many reached optimal play, iterations and work (means with 95% t intervals
    over the runs that reached it)."""
    out = []
    for key in dict.fromkeys(json.dumps(r["config"], sort_keys=True) for r in records):
        rows = [r for r in records if json.dumps(r["config"], sort_keys=True) == key]
        reached = [r for r in rows if r["first_optimal_iteration"] is not None]
        entry = {"config": json.loads(key), "runs": len(rows), "reached": len(reached),
                 "seeds": [r["seed"] for r in rows]}
        for name in ("first_optimal_iteration", "transitions", "update_rows"):
            if len(reached) >= 2:
                ci = t_interval([r[name] for r in reached])
                entry[name] = {"mean": ci.mean, "lo": ci.lo, "hi": ci.hi,
                               "max": max(r[name] for r in reached)}
        if rows and rows[0]["full"]:
            entry["optimal_share_last_evals"] = [r["optimal_share_last_evals"] for r in rows]
        out.append(entry)
    return out


def markdown(summary: dict) -> str:
    lines = [f"# Tic-Tac-Toe configurations {'over whole runs' if summary['full'] else 'to provably optimal play'}",
             "", f"`{summary['command']}` ({summary['date']}; load at the end: `{summary['uptime_end']}`).", "",
             "Each configuration is the `tictactoe` preset with the keys shown changed. Runs on one Numba thread, "
             f"{summary['jobs']} at a time (iterations and transitions do not depend on threads). Means over the "
             "runs that reached optimal play, with 95% t intervals; update rows are transitions times epochs.", ""]
    if summary["full"]:
        lines += ["| configuration | seeds | first optimal at | optimal in the last evaluations |", "|---|---|---|---|"]
        for c in summary["configs"]:
            firsts = [r["first_optimal_iteration"] for r in summary["runs"] if r["config"] == c["config"]]
            shares = ", ".join(f"{s:.2f}" for s in c["optimal_share_last_evals"])
            lines.append(f"| `{json.dumps(c['config'])}` | {c['seeds']} | {firsts} | {shares} (of the last "
                         f"{LAST_EVALS}) |")
        return "\n".join(lines) + "\n"
    lines += ["| configuration | seeds | reached | iterations to optimal, mean (95% interval), max | "
              "transitions (k) | update rows (k) |", "|---|---|---|---|---|---|"]
    for c in summary["configs"]:
        it, tr, up = c.get("first_optimal_iteration"), c.get("transitions"), c.get("update_rows")
        cells = (f"{it['mean']:.1f} ({it['lo']:.1f} to {it['hi']:.1f}), {it['max']}" if it else "-",
                 f"{tr['mean'] / 1e3:.0f} ({tr['lo'] / 1e3:.0f} to {tr['hi'] / 1e3:.0f})" if tr else "-",
                 f"{up['mean'] / 1e3:.0f} ({up['lo'] / 1e3:.0f} to {up['hi'] / 1e3:.0f})" if up else "-")
        seeds = c["seeds"]
        seed_text = (seeds[0] if len(seeds) == 1 else f"{min(seeds)}-{max(seeds)}"
                     if seeds == list(range(min(seeds), max(seeds) + 1)) else seeds)
        lines.append(f"| `{json.dumps(c['config'])}` | {seed_text} | {c['reached']}/{c['runs']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", required=True, help="JSON objects of preset keys to override.")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--jobs", type=int, default=2, help="Runs at a time, one Numba thread each.")
    ap.add_argument("--full", action="store_true", help="Whole runs, not --until-optimal.")
    ap.add_argument("--out", required=True, help="New folder for the results.")
    args = ap.parse_args()
    try:
        configs = [json.loads(c) for c in args.configs]
        for c in configs:
            preset("tictactoe").replace(**c)
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        sys.exit(f"--configs: {exc}")
    out = Path(args.out)
    # A new folder, and a warm JIT cache, so that no run compiles.
    new_study(out, "tictactoe", 1, "tictactoe", ["--no-report"])
    scratch = Path(tempfile.mkdtemp())
    command = ("python scripts/ttt_preset_tuning.py" + (" --full" if args.full else "") + " --seeds "
               + " ".join(map(str, args.seeds)) + f" --jobs {args.jobs} --configs "
               + " ".join(f"'{json.dumps(c)}'" for c in configs) + f" --out {args.out}")
    jobs = [(c, s) for c in configs for s in args.seeds]
    records = []
    with ThreadPoolExecutor(args.jobs) as pool, open(out / "runs.jsonl", "w") as log:
        for record in pool.map(lambda job: one_run(job[0], job[1], args.full, scratch), jobs):
            records.append(record)
            log.write(json.dumps(record) + "\n")
            log.flush()
    shutil.rmtree(scratch, ignore_errors=True)
    summary = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "uptime_end": uptime(),
               "full": args.full, "jobs": args.jobs, "configs": summarise(records), "runs": records}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "README.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
