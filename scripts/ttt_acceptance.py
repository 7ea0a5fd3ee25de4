"""Issue acceptance for Tic-Tac-Toe: `numbaplay train tictactoe --until-optimal` for several seeds.

Each seed runs as its own `numbaplay train` process (warm JIT cache: one untimed run first), then the
run folders are summarised: whether each ended provably optimal (greedy exploitability exactly 0,
sampled below 0.01, optimal-move rate 100%), iterations and wall time to get there, with a
Clopper-Pearson interval on the success count and Student-t intervals on the means.

    python scripts/ttt_acceptance.py --seeds 0 1 2 3 4 --threads 2 --out results/ttt_optimal
"""
import json
import shutil
import time
from pathlib import Path

from seed_runs import new_study, study_args, train

from numbaplay.eval.tictactoe_exact import provably_optimal
from numbaplay.profile.machine import uptime
from numbaplay.report.stats import clopper_pearson, median_with_count, t_interval

TRAIN_FLAGS = ["--until-optimal"]


def main():
    args = study_args("tictactoe", "results/ttt_optimal")
    out = Path(args.out)
    new_study(out, "tictactoe", args.threads, args.preset, TRAIN_FLAGS)
    rows = []
    for seed in args.seeds:
        run = out / f"seed{seed}"
        process_s = train("tictactoe", run, seed, args.threads, args.preset, TRAIN_FLAGS)
        s = json.loads((run / "summary.json").read_text())
        ev = s["final_eval"]
        optimal = provably_optimal(ev)
        rows.append({"seed": seed, "optimal": optimal, "stopped": s["stopped_reason"],
                     "iterations": s["iterations_run"], "train_wall_s": s["wall_time_s"],
                     "process_wall_s": process_s, "exploitability_greedy": ev["exploitability_greedy"],
                     "exploitability_sampled": ev["exploitability_sampled"],
                     "optimal_move_rate": ev["optimal_move_rate"]})
        for name in ("checkpoints",):
            shutil.rmtree(run / name, ignore_errors=True)
    ok = [r for r in rows if r["optimal"]]
    succ = clopper_pearson(len(ok), len(rows))
    med = median_with_count([r["train_wall_s"] if r["optimal"] else None for r in rows])
    iters = t_interval([r["iterations"] for r in rows])
    wall = t_interval([r["train_wall_s"] for r in rows])
    load = uptime()
    summary = {"command": "python scripts/ttt_acceptance.py " + " ".join(
                   ["--seeds", *map(str, args.seeds), "--threads", str(args.threads), "--preset", args.preset,
                    "--out", args.out]),
               "date": time.strftime("%Y-%m-%d %H:%M:%S"), "uptime_after": load, "runs": rows,
               "successes": len(ok), "n": len(rows), "success_ci95": [succ.lo, succ.hi],
               "median_wall_s_of_successes": med.median, "reached": med.count,
               "iterations_mean": iters.mean, "iterations_ci95": [iters.lo, iters.hi],
               "wall_mean_s": wall.mean, "wall_ci95_s": [wall.lo, wall.hi]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"# Tic-Tac-Toe to provably optimal play ({args.preset} preset)", "",
             f"Command: `{summary['command']}` ({summary['date']}, load after: `{load}`).", "",
             "| seed | optimal | iterations | train wall s | greedy expl. | sampled expl. | optimal-move rate |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {'yes' if r['optimal'] else 'no'} | {r['iterations']} | "
                     f"{r['train_wall_s']:.1f} | {r['exploitability_greedy']:.4f} | "
                     f"{r['exploitability_sampled']:.4f} | {r['optimal_move_rate']:.4f} |")
    lines += ["", f"- Reached optimal play: {len(ok)}/{len(rows)} (95% Clopper-Pearson {succ.lo:.2f} to "
              f"{succ.hi:.2f}).",
              f"- Median wall time to optimal (warm JIT cache, {args.threads} threads): "
              f"{med.median:.1f} s over the {med.count} runs that reached it." if med.count else
              "- No run reached optimal play.",
              f"- Iterations: mean {iters.mean:.1f} (95% t interval {iters.lo:.1f} to {iters.hi:.1f}).",
              f"- Wall time: mean {wall.mean:.1f} s (95% t interval {wall.lo:.1f} to {wall.hi:.1f} s)."]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
