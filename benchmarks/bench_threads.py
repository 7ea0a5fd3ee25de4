"""Rollout thread scaling: wall time of one iteration's rollout at 1..N Numba threads (median, min and
max of repeats after a warm-up, in rounds that alternate the thread counts), speed-up against 1 thread,
and a check that every thread count plays exactly the same games. Writes
results/bench/threads_<preset>.json with machine info and the load.

Game logic runs in `prange` over rows, and inference in pieces of about 128 rows
(`numbaplay.nn.rows.INFER_ROWS`), so a batch smaller than that is one piece.

    python benchmarks/bench_threads.py --preset tictactoe --repeats 5
    python benchmarks/bench_threads.py --preset c4-seed --repeats 3
"""
import argparse
import json
import time
from pathlib import Path

import numba
import numpy as np

from numbaplay.omp import threading_env, use_short_spin
from numbaplay.ppo.trainer import Trainer
from numbaplay.presets import preset
from numbaplay.profile.machine import blas_limits, blas_threads_in_effect, uptime
from numbaplay.runs import machine_info


def summary(values):
    return {"median_s": float(np.median(values)), "min_s": float(np.min(values)),
            "max_s": float(np.max(values))}


def update_state(tr: Trainer):
    """Play one rollout and compute its advantages; returns (transitions N, restore), where restore() puts the
    parameters, Adam moments and step count back as they are now, so that every timed update starts from the
    same state."""
    n = tr.rollout()
    tr.advantages(n)
    saved = {name: getattr(tr, name).copy() for name in ("params", "m", "v")}
    saved_t = tr.t

    def restore():
        for name, value in saved.items():
            getattr(tr, name)[:] = value
        tr.t = saved_t

    return n, restore


def add_thread_options(ap: argparse.ArgumentParser) -> None:
    """--max-threads and --blas-threads, as every thread-scaling benchmark takes them."""
    ap.add_argument("--max-threads", type=int, default=numba.config.NUMBA_NUM_THREADS,
                    help="Largest Numba thread count tried.")
    ap.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (as training).")


def main():
    use_short_spin()  # the OpenMP spin training runs with (numbaplay/omp.py)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tictactoe", help="Named configuration.")
    ap.add_argument("--games", type=int, default=None, help="Override games per iteration.")
    ap.add_argument("--repeats", type=int, default=5, help="Timed rollouts per thread count.")
    add_thread_options(ap)
    ap.add_argument("--out", default=None, help="Output JSON (default results/bench/threads_<preset>.json).")
    args = ap.parse_args()
    cfg = preset(args.preset)
    if args.games:
        cfg = cfg.replace(games_per_iter=args.games)
    load_start = uptime()
    rows = {}
    reference = None
    with blas_limits(args.blas_threads):
        tr = Trainer(cfg)
        counts = range(1, args.max_threads + 1)
        for threads in counts:  # warm-up (and JIT) at every thread count
            numba.set_num_threads(threads)
            tr.rollout()
        # Rounds alternate the thread counts, so that the machine's drift reaches every count alike.
        wall = {t: [] for t in counts}
        cpu = {t: [] for t in counts}
        for _ in range(args.repeats):
            for threads in counts:
                numba.set_num_threads(threads)
                t0, c0 = time.perf_counter(), time.process_time()
                tr.rollout()  # same iteration and parameters: the same games every time
                wall[threads].append(time.perf_counter() - t0)
                cpu[threads].append(time.process_time() - c0)
        for threads in counts:
            numba.set_num_threads(threads)
            n = tr.rollout()
            played = (tr.moves.copy(), tr.obs[:n].copy(), tr.logp[:n].copy())
            if reference is None:
                reference = played
            same = all(np.array_equal(a, b) for a, b in zip(reference, played, strict=True))
            rows[threads] = {**summary(wall[threads]), "cpu_median_s": float(np.median(cpu[threads])),
                             "transitions": int(n), "identical_to_1_thread": bool(same)}
        blas = blas_threads_in_effect()
    base = rows[1]["median_s"]
    for r in rows.values():
        r["speedup"] = base / r["median_s"]
    result = {
        "benchmark": "rollout thread scaling", "preset": args.preset, "games_per_iter": cfg.games_per_iter,
        "repeats": args.repeats, "blas_threads": args.blas_threads,
        "blas_threads_in_effect": blas, "threads": rows, "machine": machine_info(),
        "uptime_start": load_start, "uptime_end": uptime(), "threading_layer": numba.threading_layer(),
        "env": threading_env(),
        "command": "python benchmarks/bench_threads.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
    }
    out = Path(args.out or f"results/bench/threads_{args.preset}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for t, r in rows.items():
        print(f"{t} thread(s): rollout median {r['median_s'] * 1e3:8.1f} ms (min {r['min_s'] * 1e3:.1f}, max "
              f"{r['max_s'] * 1e3:.1f}; cpu {r['cpu_median_s'] * 1e3:.1f})  speed-up {r['speedup']:.2f}  "
              f"identical {r['identical_to_1_thread']}")
    print(f"load: {result['uptime_start']}\nwritten {out}")


if __name__ == "__main__":
    main()
