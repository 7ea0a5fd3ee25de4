"""Time one training iteration per phase (rollout, GAE, update): median, min, max of repeats after a
JIT warm-up. Writes results/bench/iteration_<preset>.json with machine info.

A fresh run's pool holds one entry, so every game's opponent is the same network. Late in training the pool
is full (`pool_size` entries) and the opponents' batches split by entry into small pieces, each with its own
weights. `--pool N` fills the pool to N entries first (the initial parameters plus independent N(0, 1e-3^2)
noise per entry, seeded, as `torch_reference.py --pool full`), to time that stage; the output is then
iteration_<preset>_pool<N>.json.

    python benchmarks/bench_iteration.py --preset ttt-seed --repeats 5 --threads 2
    python benchmarks/bench_iteration.py --preset c4-seed --repeats 3 --threads 2 --pool 50
"""
import argparse
import json
from pathlib import Path

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from numbaplay.omp import use_short_spin
from numbaplay.ppo.trainer import Trainer
from numbaplay.presets import preset
from numbaplay.profile.machine import uptime
from numbaplay.runs import machine_info


def main():
    use_short_spin()  # the OpenMP spin training runs with (numbaplay/omp.py)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="ttt-seed")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    ap.add_argument("--blas-threads", type=int, default=1)
    ap.add_argument("--pool", type=int, default=None, help="Fill the pool to this many entries first.")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    numba.set_num_threads(args.threads)
    cfg = preset(args.preset)
    tr = Trainer(cfg)
    if args.pool:
        rng = np.random.default_rng(args.pool)
        while len(tr.pool) < args.pool:
            tr.pool.append(tr.params + rng.normal(0.0, 1e-3, tr.params.shape).astype(np.float32))
    times = {"rollout": [], "gae": [], "update": [], "iteration": []}
    transitions = []
    with threadpool_limits(args.blas_threads, user_api="blas"):
        for i in range(args.warmup + args.repeats):
            n, _, phase_s = tr.timed_phases()
            tr.iteration += 1
            if i >= args.warmup:
                for key in times:
                    times[key].append(phase_s[key])
                transitions.append(n)
    summary = {k: {"median_s": float(np.median(v)), "min_s": float(np.min(v)), "max_s": float(np.max(v))}
               for k, v in times.items()}
    load = uptime()
    result = {"preset": args.preset, "config": cfg.to_dict(), "pool_entries": len(tr.pool),
              "repeats": args.repeats, "warmup": args.warmup,
              "numba_threads": args.threads, "blas_threads": args.blas_threads,
              "transitions_per_iter": float(np.mean(transitions)), "phases": summary,
              "machine": machine_info(), "uptime": load,
              "command": "python benchmarks/bench_iteration.py " + " ".join(
                  f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None)}
    out = Path(args.out or f"results/bench/iteration_{args.preset}{f'_pool{args.pool}' if args.pool else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for k, v in summary.items():
        print(f"{k:10s} median {v['median_s'] * 1e3:9.2f} ms  (min {v['min_s'] * 1e3:.2f}, max {v['max_s'] * 1e3:.2f})")
    print(f"transitions per iteration: {result['transitions_per_iter']:.0f}; written {out}")


if __name__ == "__main__":
    main()
