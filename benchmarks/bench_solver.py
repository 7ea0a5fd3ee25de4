"""Time the Connect Four solver on Pascal Pons' test sets and check every score exactly.

Each position is parsed and the transposition table emptied before the clock starts (a fresh table per
position, as in Pons' benchmark); the clock covers `Solver.solve` only, after a JIT warm-up.

    .venv/bin/python benchmarks/bench_solver.py                 # five sets + first 100 of Begin-Hard
    .venv/bin/python benchmarks/bench_solver.py --hard 20 --sets L3_R1,L2_R1

Writes a JSON summary (machine, versions, per set: mean/median/min/max seconds, nodes, exact matches)
and exits 1 if any score is wrong.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

from numbaplay.eval.solver import Solver, parse_position
from numbaplay.omp import use_short_spin

# file suffix: (name, Pons' C++ mean seconds per position on this kind of machine, over the first N or all)
SETS = {
    "L3_R1": ("End-Easy", 9e-6, None),
    "L2_R1": ("Middle-Easy", 66e-6, None),
    "L2_R2": ("Middle-Medium", 7.7e-3, None),
    "L1_R1": ("Begin-Easy", 0.49e-3, None),
    "L1_R2": ("Begin-Medium", 183e-3, None),
    "L1_R3": ("Begin-Hard", 4.0, 20),
}
ROOT = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    env = os.environ.get("NUMBAPLAY_C4_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data" / "connect4"


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def load(path: Path, limit: int | None) -> list[tuple[str, int]]:
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            moves, score = line.split()
            rows.append((moves, int(score)))
    return rows[:limit] if limit is not None else rows


def bench_set(solver: Solver, rows: list[tuple[str, int]], label: str) -> dict:
    """Solve every row with a fresh table; wall and CPU seconds of the solve alone, nodes, exact count."""
    times, cpu_times, nodes = [], [], []
    exact = 0
    start = last_report = time.perf_counter()
    for i, (moves, expected) in enumerate(rows):
        pos = parse_position(moves)
        solver.reset()
        c0 = time.process_time()
        t0 = time.perf_counter()
        score = solver.solve(pos)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
        nodes.append(solver.nodes)
        if score == expected:
            exact += 1
        else:
            print(f"  MISMATCH {moves}: got {score}, expected {expected}", file=sys.stderr)
        if time.perf_counter() - last_report > 30:
            last_report = time.perf_counter()
            print(f"  {label}: {i + 1}/{len(rows)}  {last_report - start:.0f}s", file=sys.stderr)
    total_time, total_nodes = sum(times), sum(nodes)
    slowest = sorted(range(len(rows)), key=times.__getitem__)[-3:][::-1]
    stats = {
        "positions": len(rows),
        "exact": exact,
        "mean_s": total_time / len(rows),
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "cpu_mean_s": sum(cpu_times) / len(rows),
        "mean_nodes": total_nodes / len(rows),
        "nodes_per_s": total_nodes / total_time if total_time > 0 else 0.0,
        "slowest": [{"line": i, "moves": rows[i][0], "s": times[i], "nodes": nodes[i]} for i in slowest],
    }
    if len(rows) <= 200:  # small (Begin-Hard) runs keep every position's numbers
        stats["per_position"] = [{"line": i, "s": times[i], "cpu_s": cpu_times[i], "nodes": nodes[i]}
                                 for i in range(len(rows))]
    return stats


def pons_comparison(stats: dict, pons_s: float, pons_n: int | None) -> dict:
    """Our mean over the positions Pons' figure covers (all, or the first pons_n), and the ratios."""
    if pons_n is None or pons_n >= stats["positions"]:
        n, wall, cpu = stats["positions"], stats["mean_s"], stats["cpu_mean_s"]
    else:
        first = stats["per_position"][:pons_n]
        n = pons_n
        wall = sum(p["s"] for p in first) / n
        cpu = sum(p["cpu_s"] for p in first) / n if all("cpu_s" in p for p in first) else None
    return {
        "pons_mean_s": pons_s,
        "pons_compare_positions": n,
        "compare_mean_s": wall,
        "compare_cpu_mean_s": cpu,
        "ratio_to_pons": wall / pons_s,
        "cpu_ratio_to_pons": cpu / pons_s if cpu is not None else None,
    }


def main(argv: list[str] | None = None) -> int:
    use_short_spin()  # the OpenMP spin training runs with (numbaplay/omp.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir(),
                        help="folder of the Test_L*_R* files")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated set ids, e.g. L3_R1,L2_R1")
    parser.add_argument("--hard", type=int, default=100,
                        help="how many Begin-Hard (L1_R3) positions, from the top")
    parser.add_argument("--limit", type=int, default=None,
                        help="at most this many positions of the other sets, from the top")
    parser.add_argument("--tt-log2", type=int, default=23, help="transposition table of 2**N slots")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "solver.json",
                        help="where to write the JSON summary")
    args = parser.parse_args(argv)

    load_start = [round(x, 2) for x in os.getloadavg()]
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    solver = Solver(tt_log2=args.tt_log2)
    warm = time.perf_counter()
    for moves, _ in load(args.data / "Test_L2_R1", 20):  # compile or load the JIT cache
        solver.reset()
        solver.solve(moves)
    warm = time.perf_counter() - warm

    results = {}
    ok = True
    for set_id in args.sets.split(","):
        name, pons_s, pons_n = SETS[set_id]
        rows = load(args.data / f"Test_{set_id}", args.hard if set_id == "L1_R3" else args.limit)
        stats = bench_set(solver, rows, name)
        stats.update(name=name, **pons_comparison(stats, pons_s, pons_n))
        results[set_id] = stats
        ok &= stats["exact"] == stats["positions"]
        print(f"{set_id} {name:14s} n={stats['positions']:4d} exact={stats['exact']:4d} "
              f"mean={stats['mean_s'] * 1e3:10.4f} ms  median={stats['median_s'] * 1e3:10.4f} ms  "
              f"max={stats['max_s'] * 1e3:10.2f} ms  cpu={stats['cpu_mean_s'] * 1e3:10.4f} ms  "
              f"nodes={stats['mean_nodes']:12.0f}  "
              f"ratio={stats['ratio_to_pons']:.2f}", flush=True)

    summary = {
        "benchmark": "connect4 solver on Pons' test sets, fresh table per position, strong solve",
        "started": started,
        "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "tt_log2": args.tt_log2,
        "warmup_s": warm,
        "machine": machine_info(),
        "loadavg_1_5_15_start": load_start,
        "loadavg_1_5_15_end": [round(x, 2) for x in os.getloadavg()],
        "sets": results,
        "all_exact": ok,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
