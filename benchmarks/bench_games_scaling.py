"""Cost as games per iteration grow: does the time per transition stay flat?

For each G, one warm-up iteration and then `--repeats` iterations of the fused phases (rollout, GAE,
update) as `Trainer.step` runs them; medians with min and max, and microseconds per transition per phase.
Writes results/bench/games_scaling_<preset>.json with machine info and the load.

By default every timed repeat replays iteration 0 from the initial state: the cost of an update depends
on how far training has gone (with ReLU networks Adam's first moment fills with subnormal floats after
~700 steps, and a larger G takes more steps per iteration), so advancing training would mix that effect
into the scaling. `--advance` times successive iterations instead.

    python benchmarks/bench_games_scaling.py --preset ttt-seed --games 64,128,256,512,1024,2048
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

PHASES = ("rollout", "gae", "update", "iteration")


def one_size(cfg, repeats, advance):
    tr = Trainer(cfg)
    start = (tr.params.copy(), tr.m.copy(), tr.v.copy(), tr.t, tr.iteration)
    times = {p: [] for p in PHASES}
    cpu = []
    transitions = []
    for i in range(1 + repeats):
        if not advance:
            tr.params[:], tr.m[:], tr.v[:] = start[0], start[1], start[2]
            tr.t, tr.iteration = start[3], start[4]
        c0 = time.process_time()
        n, _, phase_s = tr.timed_phases()
        c3 = time.process_time()
        tr.iteration += 1
        if i == 0:
            continue  # warm-up
        for p in PHASES:
            times[p].append(phase_s[p])
        cpu.append(c3 - c0)
        transitions.append(n)
    n_mean = float(np.mean(transitions))
    out = {"transitions_per_iter": n_mean, "iteration_cpu_median_s": float(np.median(cpu))}
    for p, v in times.items():
        med = float(np.median(v))
        out[p] = {"median_s": med, "min_s": float(np.min(v)), "max_s": float(np.max(v)),
                  "us_per_transition": med / n_mean * 1e6}
    return out


def main():
    use_short_spin()  # the OpenMP spin training runs with (numbaplay/omp.py)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="ttt-seed", help="Named configuration.")
    ap.add_argument("--games", default="64,128,256,512,1024,2048",
                    help="Comma-separated games per iteration.")
    ap.add_argument("--repeats", type=int, default=3, help="Timed iterations per size, after one warm-up.")
    ap.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS, help="Numba threads.")
    ap.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (as training).")
    ap.add_argument("--advance", action="store_true",
                    help="Time successive iterations instead of replaying iteration 0.")
    ap.add_argument("--out", default=None,
                    help="Output JSON (default results/bench/games_scaling_<preset>.json).")
    args = ap.parse_args()
    numba.set_num_threads(args.threads)
    base = preset(args.preset)
    sizes = [int(g) for g in args.games.split(",")]
    load_start = uptime()
    rows = {}
    with blas_limits(args.blas_threads):
        for g in sizes:
            rows[g] = one_size(base.replace(games_per_iter=g), args.repeats, args.advance)
            r = rows[g]
            print(f"G={g:5d}: {r['transitions_per_iter']:8.0f} transitions, iteration "
                  f"{r['iteration']['median_s'] * 1e3:9.1f} ms; us/transition: rollout "
                  f"{r['rollout']['us_per_transition']:.1f}, update {r['update']['us_per_transition']:.1f}, "
                  f"total {r['iteration']['us_per_transition']:.1f}", flush=True)
        blas = blas_threads_in_effect()
    result = {
        "benchmark": "games per iteration scaling", "preset": args.preset, "config": base.to_dict(),
        "repeats": args.repeats, "advance": args.advance, "numba_threads": args.threads,
        "blas_threads": args.blas_threads,
        "blas_threads_in_effect": blas, "sizes": rows, "machine": machine_info(),
        "uptime_start": load_start, "uptime_end": uptime(), "threading_layer": numba.threading_layer(),
        "env": threading_env(),
        "command": "python benchmarks/bench_games_scaling.py " + " ".join(
            f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in vars(args).items()
            if v is not None and v is not False),
    }
    out = Path(args.out or f"results/bench/games_scaling_{args.preset}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"load: {load_start}\nwritten {out}")


if __name__ == "__main__":
    main()
