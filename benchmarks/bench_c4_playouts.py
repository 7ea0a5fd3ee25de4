"""Connect Four engine speed: uniformly random playouts through `numbaplay.games.core`, in moves per
second per core. Two kernels: the bare engine (`is_legal` + `play`) and the engine plus what the rollout
computes per move (`observe` + `legal_mask`); each serial and in `prange` over games (each game writes only
its own slot). Median, min and max of repeats after a warm-up. Writes results/bench/c4_playouts.json.

    python benchmarks/bench_c4_playouts.py --games 20000 --repeats 5
"""
import argparse
import json
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

from numbaplay.games.core import CONNECT4, is_legal, legal_mask, observe, play
from numbaplay.omp import threading_env, use_short_spin
from numbaplay.profile.machine import uptime
from numbaplay.rng import key_below, stream_key
from numbaplay.runs import machine_info

PLAYOUT = 100  # a stream purpose of this benchmark only
N_ACT = 7
OBS = 84


@njit(cache=True, inline="always")
def _playout(g, seed, with_obs, out_moves):
    state = np.zeros(4, np.int64)
    legal = np.empty(N_ACT, np.int64)
    obs = np.empty(OBS, np.float32)
    mask = np.empty(N_ACT, np.uint8)
    key = stream_key(seed, PLAYOUT, 0, g)
    moves = 0
    while state[3] == 0:
        if with_obs:
            observe(CONNECT4, obs, state)
            legal_mask(CONNECT4, mask, state)
        n_ok = 0
        for a in range(N_ACT):
            if is_legal(CONNECT4, state, a):
                legal[n_ok] = a
                n_ok += 1
        play(CONNECT4, state, legal[key_below(key, state[2], n_ok)])
        moves += 1
    out_moves[g] = moves


@njit(cache=True)
def playouts_serial(out_moves, seed, with_obs):
    """out_moves: int64[G], the length of random game g."""
    for g in range(out_moves.shape[0]):
        _playout(g, seed, with_obs, out_moves)


@njit(cache=True, parallel=True)
def playouts_parallel(out_moves, seed, with_obs):
    for g in prange(out_moves.shape[0]):
        _playout(g, seed, with_obs, out_moves)


def measure(kernel, games, with_obs, repeats):
    moves = np.zeros(games, np.int64)
    kernel(moves, 0, with_obs)  # warm-up / JIT
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        kernel(moves, 0, with_obs)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    total = int(moves.sum())
    med = float(np.median(wall))
    return {"games": games, "moves": total, "median_s": med, "min_s": float(np.min(wall)),
            "max_s": float(np.max(wall)), "cpu_median_s": float(np.median(cpu)),
            "moves_per_s": total / med, "moves_per_cpu_s": total / float(np.median(cpu))}, moves


def main():
    use_short_spin()  # the OpenMP spin training runs with (numbaplay/omp.py)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", type=int, default=20000, help="Random games per timed run.")
    ap.add_argument("--repeats", type=int, default=5, help="Timed runs per kernel, after one warm-up.")
    ap.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS,
                    help="Numba threads of the parallel kernels.")
    ap.add_argument("--out", default="results/bench/c4_playouts.json", help="Output JSON.")
    args = ap.parse_args()
    numba.set_num_threads(args.threads)
    load_start = uptime()
    results = {}
    lengths = []
    kernels = (("serial", playouts_serial, 1), ("parallel", playouts_parallel, args.threads))
    for name, kernel, threads in kernels:
        for with_obs in (False, True):
            key = f"{name}{'+observe' if with_obs else ''}"
            r, moves = measure(kernel, args.games, with_obs, args.repeats)
            r["threads"] = threads
            r["moves_per_s_per_core"] = r["moves_per_s"] / threads
            results[key] = r
            lengths.append(moves)
            print(f"{key:18s} {r['moves_per_s'] / 1e6:8.2f} M moves/s ({r['moves_per_s_per_core'] / 1e6:.2f} "
                  f"M per core; {r['moves_per_cpu_s'] / 1e6:.2f} M per CPU-second)  "
                  f"median {r['median_s'] * 1e3:.1f} ms (min {r['min_s'] * 1e3:.1f}, "
                  f"max {r['max_s'] * 1e3:.1f})",
                  flush=True)
    same = all(np.array_equal(lengths[0], m) for m in lengths)
    result = {
        "benchmark": "connect4 random playouts", "kernels": results, "same_games_in_every_kernel": bool(same),
        "mean_game_length": float(lengths[0].mean()), "machine": machine_info(),
        "uptime_start": load_start, "uptime_end": uptime(), "threading_layer": numba.threading_layer(),
        "env": threading_env(),
        "command": "python benchmarks/bench_c4_playouts.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"mean game length {result['mean_game_length']:.2f} plies; identical games in every kernel: {same}")
    print(f"load: {load_start}\nwritten {out}")


if __name__ == "__main__":
    main()
