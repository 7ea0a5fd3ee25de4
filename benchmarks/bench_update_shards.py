"""The update at several `update_shards` values side by side: one trainer per value in one process (the
same seed, so the same rollout and the same transitions), each update timed from the same saved state, in
rounds that alternate the thread counts and the shard values. Reports median, min and max per (shards,
threads), the ratio to the first shard value at the same thread count, and checks that every thread count
gives the same parameters for a given shard value. Writes results/bench/update_shards_<preset>.json.

    python benchmarks/bench_update_shards.py --preset c4-seed --shards 2,4,8 --counts 1,2 --repeats 5
"""
import argparse
import json
import time
from pathlib import Path

import numba
import numpy as np
from bench_threads import summary, update_state  # this folder is on sys.path when a benchmark runs as a script

from numbaplay.omp import threading_env, use_short_spin
from numbaplay.ppo.trainer import Trainer
from numbaplay.presets import preset
from numbaplay.profile.machine import blas_limits, blas_threads_in_effect, uptime
from numbaplay.runs import machine_info


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def main():
    use_short_spin()  # the OpenMP spin training runs with (numbaplay/omp.py)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="c4-seed", help="Named configuration.")
    ap.add_argument("--shards", default="2,4,8", help="update_shards values, comma-separated; the first is the base.")
    ap.add_argument("--counts", default="1,2", help="Numba thread counts, comma-separated.")
    ap.add_argument("--repeats", type=int, default=5, help="Timed updates per (shards, threads), after a warm-up.")
    ap.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (as training).")
    ap.add_argument("--out", default=None, help="Output JSON (default results/bench/update_shards_<preset>.json).")
    args = ap.parse_args()
    shard_values, counts = ints(args.shards), ints(args.counts)
    if max(counts) > numba.config.NUMBA_NUM_THREADS:
        raise SystemExit(f"--counts goes to {max(counts)}, but Numba has {numba.config.NUMBA_NUM_THREADS} threads")
    base = preset(args.preset)
    load_start = uptime()
    with blas_limits(args.blas_threads):
        trainers, restores, n = {}, {}, None
        for s in shard_values:
            tr = Trainer(base.replace(update_shards=s))
            n_s, restores[s] = update_state(tr)
            if n is not None and n_s != n:
                raise SystemExit(f"update_shards={s} played {n_s} transitions, not {n}: the rollout must not "
                                 "depend on it")
            n, trainers[s] = n_s, tr
        params = {}
        for c in counts:  # warm-up (and JIT) at every thread count; the parameters each count gives
            numba.set_num_threads(c)
            for s in shard_values:
                restores[s]()
                trainers[s].update(n)
                params[s, c] = trainers[s].params.copy()
        times = {(s, c): [] for s in shard_values for c in counts}
        for _ in range(args.repeats):
            for c in counts:
                numba.set_num_threads(c)
                for s in shard_values:
                    restores[s]()
                    t0 = time.perf_counter()
                    trainers[s].update(n)
                    times[s, c].append(time.perf_counter() - t0)
        blas = blas_threads_in_effect()
    rows = {}
    for s in shard_values:
        rows[str(s)] = {}
        for c in counts:
            row = summary(times[s, c])
            row["ratio_to_base"] = row["median_s"] / float(np.median(times[shard_values[0], c]))
            row["same_parameters_as_first_count"] = bool(np.array_equal(params[s, c], params[s, counts[0]]))
            rows[str(s)][str(c)] = row
    best = {str(c): min(shard_values, key=lambda s: np.median(times[s, c])) for c in counts}
    result = {
        "benchmark": "update shards", "preset": args.preset, "transitions": int(n),
        "batch_size": base.batch_size, "repeats": args.repeats, "blas_threads": args.blas_threads,
        "blas_threads_in_effect": blas, "shards": rows, "fastest_shards_per_count": best,
        "machine": machine_info(), "uptime_start": load_start, "uptime_end": uptime(),
        "threading_layer": numba.threading_layer(), "env": threading_env(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": "python benchmarks/bench_update_shards.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k != "out"),
    }
    out = Path(args.out or f"results/bench/update_shards_{args.preset}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for c in counts:
        for s in shard_values:
            r = rows[str(s)][str(c)]
            print(f"{c:2d} thread(s), {s:2d} shards: update median {r['median_s'] * 1e3:7.0f} ms (min "
                  f"{r['min_s'] * 1e3:.0f}, max {r['max_s'] * 1e3:.0f})  x{r['ratio_to_base']:.2f} of "
                  f"{shard_values[0]} shards  same parameters {r['same_parameters_as_first_count']}")
    print(f"load: {result['uptime_start']}\nwritten {out}")


if __name__ == "__main__":
    main()
