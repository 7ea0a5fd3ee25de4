"""How strong `numbaplay train connect4` gets, and how fast: one preset, several seeds, intervals.

Each seed runs as its own `numbaplay train connect4` process (warm JIT cache: one short untimed run
first). The run folders (config, metrics.jsonl, summary.json; checkpoints removed) are summarised from
their files: every seed's final Elo against the packaged ladder with its bootstrap interval, its stable
Elo (the mean of its last five evaluations), its greedy mistake rates on the Pons sets and its wall
time, then Student-t intervals over the seeds, placed against the ladder's stored ratings. The study PDF
comes from `numbaplay report` on the seed folders.

    python scripts/c4_study.py --seeds 0 1 2 3 4 --threads 2 --out results/connect4_default
"""
import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from seed_runs import new_study, study_args, train

from numbaplay.eval.ladder import load_ladder
from numbaplay.profile.machine import uptime
from numbaplay.report.stats import t_interval

TRAIN_FLAGS = ["--no-report"]
STABLE = 5  # evaluations in the stable figure: the mean of the last five, never the best one


def placed(value: float, ladder: dict) -> str:
    """Where a rating falls among the ladder's stored ratings, in words computed from them."""
    rated = sorted((p["rating"], p["name"]) for p in ladder["players"] if p["rating"] is not None)
    below = [name for r, name in rated if r <= value]
    above = [name for r, name in rated if r > value]
    if not below:
        return f"below every ladder member (lowest: {rated[0][1]} at {rated[0][0]:.0f})"
    if not above:
        return f"above every ladder member (highest: {rated[-1][1]} at {rated[-1][0]:.0f})"
    lo = next((r, n) for r, n in rated if n == below[-1])
    hi = next((r, n) for r, n in rated if n == above[0])
    return f"between {lo[1]} ({lo[0]:.0f}) and {hi[1]} ({hi[0]:.0f})"


def main():
    args = study_args("connect4", "results/connect4_default")
    out = Path(args.out)
    new_study(out, "connect4", args.threads, args.preset, TRAIN_FLAGS)
    ladder = load_ladder(None)
    rows = []
    for seed in args.seeds:
        run = out / f"seed{seed}"
        process_s = train("connect4", run, seed, args.threads, args.preset, TRAIN_FLAGS)
        shutil.rmtree(run / "checkpoints", ignore_errors=True)
        s = json.loads((run / "summary.json").read_text())
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        evals = [m for m in metrics if "eval/elo" in m]
        ev = s["final_eval"]
        mistakes = {k.split("/")[1]: v for k, v in ev.items() if k.startswith("mistakes/") and k.endswith("/rate")}
        rows.append({"seed": seed, "iterations": s["iterations_run"], "train_wall_s": s["wall_time_s"],
                     "process_wall_s": process_s,
                     "eval_s": sum(m.get("time/eval_s", 0.0) for m in metrics),
                     "elo": ev["elo"], "elo_lo": ev["elo_lo"], "elo_hi": ev["elo_hi"], "elo_bound": ev["elo_bound"],
                     "stable_elo": sum(m["eval/elo"] for m in evals[-STABLE:]) / len(evals[-STABLE:]),
                     "stable_of": len(evals[-STABLE:]), "evaluations": len(evals), "mistake_rates": mistakes,
                     "vs_heuristic": [ev["vs/heuristic/win"], ev["vs/heuristic/draw"], ev["vs/heuristic/loss"]]})
    finite = [r for r in rows if r["elo"] is not None]
    final = t_interval([r["elo"] for r in finite])
    stable = t_interval([r["stable_elo"] for r in rows])
    wall = t_interval([r["train_wall_s"] for r in rows])
    sets = list(rows[0]["mistake_rates"])
    rates = {name: t_interval([r["mistake_rates"][name] for r in rows]) for name in sets}
    report = out / "study_report.pdf"
    subprocess.run([sys.executable, "-m", "numbaplay", "report", *[str(out / f"seed{s}") for s in args.seeds],
                    "--out", str(report)], check=True, capture_output=True)
    load = uptime()
    command = "python scripts/c4_study.py " + " ".join(
        ["--seeds", *map(str, args.seeds), "--threads", str(args.threads), "--preset", args.preset, "--out", args.out])
    summary = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "uptime_after": load,
               "ladder_version": ladder["version"], "runs": rows,
               "final_elo": asdict(final), "stable_elo": asdict(stable), "train_wall_s": asdict(wall),
               "mistake_rates": {k: asdict(v) for k, v in rates.items()}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"# Connect Four: what the `{args.preset}` preset reaches", "",
             f"Command: `{command}` ({summary['date']}, load after: `{load}`). Study report: "
             f"`{report.name}` (`numbaplay report` on the seed folders). Ladder `{ladder['version']}` "
             "(`results/ladder.md`).", "",
             "| seed | iterations | train wall s | of it evaluating s | final Elo [95% bootstrap] | "
             f"stable Elo (mean of last {STABLE} evaluations) | W/D/L vs heuristic | "
             + " | ".join(f"mistakes {n}" for n in sets) + " |",
             "|---" * (7 + len(sets)) + "|"]
    for r in rows:
        elo = (f"{r['elo']:.0f} [{r['elo_lo']:.0f}, {r['elo_hi']:.0f}]" if r["elo"] is not None
               else f"bound {r['elo_bound']:.0f}")
        w, d, lo = r["vs_heuristic"]
        lines.append(f"| {r['seed']} | {r['iterations']} | {r['train_wall_s']:.1f} | {r['eval_s']:.1f} | {elo} | "
                     f"{r['stable_elo']:.0f} | {w:.2f}/{d:.2f}/{lo:.2f} | "
                     + " | ".join(f"{r['mistake_rates'][n]:.3f}" for n in sets) + " |")
    lines += ["",
              f"- Final Elo: mean {final.mean:.0f} (95% t interval {final.lo:.0f} to {final.hi:.0f} over "
              f"{final.n} seeds), {placed(final.mean, ladder)} on the ladder.",
              f"- Stable Elo (mean of each seed's last {STABLE} evaluations): mean {stable.mean:.0f} (95% t "
              f"interval {stable.lo:.0f} to {stable.hi:.0f}), {placed(stable.mean, ladder)}.",
              f"- Training wall time (warm JIT cache, {args.threads} threads, evaluations included): mean "
              f"{wall.mean:.1f} s (95% t interval {wall.lo:.1f} to {wall.hi:.1f} s); evaluating took "
              f"{sum(r['eval_s'] for r in rows) / sum(r['train_wall_s'] for r in rows):.0%} of it.",
              "- Greedy mistake rate per Pons set (final evaluation): "
              + "; ".join(f"{n} {rates[n].mean:.3f} ({rates[n].lo:.3f} to {rates[n].hi:.3f})" for n in sets) + "."]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
