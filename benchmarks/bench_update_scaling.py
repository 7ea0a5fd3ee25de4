"""Update thread scaling, and what the parameter update between steps costs each thread count.

Three measurements at 1..N Numba threads, each a median of repeats after a warm-up, on the same state:

  fused update      `Trainer.update` of one iteration (all epochs), from the same saved state each time;
                    the parameters after it must be identical for every thread count.
  shard steps       forward, head gradients and backward of one minibatch's shards (`shard_steps`),
                    repeated with nothing written between repeats.
  full steps        the same, each followed by the gradient combine and norm and an Adam step with
                    learning rate 0: every byte an update step writes is written, no value changes.

The shards of a step run on different cores. `full - shard` is what the combine and Adam cost,
including moving the cache lines that one core wrote and the other reads next (the parameters that
Adam updated, the other shard's gradient). Writes results/bench/update_scaling_<preset>.json.

    python benchmarks/bench_update_scaling.py --preset ttt-seed --repeats 5
"""
import argparse
import json
import time
from pathlib import Path

import numba
import numpy as np
from bench_threads import add_thread_options, summary  # this folder is on sys.path when a benchmark runs as a script
from numba import njit

from numbaplay.nn.adam import adam_step, combine_grad_norm
from numbaplay.nn.rows import shard_cuts
from numbaplay.omp import threading_env, use_short_spin
from numbaplay.ppo.trainer import Trainer
from numbaplay.ppo.update import gather, shard_steps
from numbaplay.presets import preset
from numbaplay.profile.machine import blas_limits, blas_threads_in_effect, uptime
from numbaplay.runs import machine_info


@njit
def _steps(reps, full, cuts, grads, sums, params, m, v, spec, offs, bx, bmask, baction, blogp, badv, bret,
           logits, vpre, dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, clip_eps, vf_coef, ent_coef):
    k = cuts.shape[0] - 1
    for _ in range(reps):
        shard_steps(cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits,
                    vpre, dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, clip_eps, vf_coef, ent_coef)
        if full:
            norm = combine_grad_norm(grads, k)
            adam_step(params, grads[0], m, v, 1, 0.0, 0.5, norm)


def main():
    use_short_spin()  # the OpenMP spin training runs with (numbaplay/omp.py)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="ttt-seed", help="Named configuration.")
    ap.add_argument("--repeats", type=int, default=5, help="Timed runs of each measurement per thread count.")
    ap.add_argument("--steps", type=int, default=100, help="Minibatch steps per timed run of the step loops.")
    add_thread_options(ap)
    ap.add_argument("--out", default=None, help="Output JSON (default results/bench/update_scaling_<preset>.json).")
    args = ap.parse_args()
    cfg = preset(args.preset)
    load_start = uptime()
    rows = {}
    with blas_limits(args.blas_threads):
        tr = Trainer(cfg)
        n = tr.rollout()
        tr.advantages(n)
        saved = {name: getattr(tr, name).copy() for name in ("params", "m", "v")}
        saved_t = tr.t

        def restore():
            for name, value in saved.items():
                getattr(tr, name)[:] = value
            tr.t = saved_t

        # One minibatch, the first rows of the buffer, for the step loops; its own moment copies.
        b = min(cfg.batch_size, n)
        gather(tr.bx, tr.bmask, tr.baction, tr.blogp, tr.badv, tr.bret, np.arange(b), tr.obs, tr.mask,
               tr.action, tr.logp, tr.adv_norm, tr.ret)
        cuts = shard_cuts(b)
        sums = np.zeros((tr.grads.shape[0], 5), np.float64)
        ws = tr.ws_upd
        m, v = tr.m.copy(), tr.v.copy()

        def steps(reps, full):
            _steps(reps, full, cuts, tr.grads, sums, tr.params, m, v, tr.spec_arr, tr.offs, tr.bx, tr.bmask,
                   tr.baction, tr.blogp, tr.badv, tr.bret, tr.blogits, tr.bvpre, tr.dlogits, tr.dvpre, ws.hs,
                   ws.us, ws.pre, ws.xh, ws.rs, ws.dh, ws.dt, cfg.clip_eps, cfg.vf_coef, tr.entropy_coef())

        reference = None
        for threads in range(1, args.max_threads + 1):
            numba.set_num_threads(threads)
            restore()
            tr.update(n)  # warm-up (and JIT) at this thread count
            fused = []
            for _ in range(args.repeats):
                restore()
                t0 = time.perf_counter()
                tr.update(n)
                fused.append(time.perf_counter() - t0)
            same = reference is None or np.array_equal(tr.params, reference)
            reference = tr.params.copy() if reference is None else reference
            restore()
            loops = {}
            for name, full in (("shard_steps", False), ("full_steps", True)):
                steps(2, full)
                walls = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    steps(args.steps, full)
                    walls.append((time.perf_counter() - t0) / args.steps)
                loops[name] = summary(walls)
            rows[str(threads)] = {"fused_update": summary(fused), "per_step": loops,
                                  "same_parameters_as_1_thread": bool(same)}
        restore()
        blas_effective = blas_threads_in_effect()
    one = rows["1"]
    for r in rows.values():
        r["speedup"] = {"fused_update": one["fused_update"]["median_s"] / r["fused_update"]["median_s"],
                        **{k: one["per_step"][k]["median_s"] / r["per_step"][k]["median_s"]
                           for k in ("shard_steps", "full_steps")}}
        r["combine_and_adam_per_step_s"] = (r["per_step"]["full_steps"]["median_s"]
                                            - r["per_step"]["shard_steps"]["median_s"])
    out = {
        "benchmark": "update_scaling", "preset": args.preset, "minibatch_rows": b,
        "shards": int(cuts.shape[0] - 1),
        "command": f"python benchmarks/bench_update_scaling.py --preset {args.preset} --repeats {args.repeats} "
                   f"--steps {args.steps} --max-threads {args.max_threads} --blas-threads {args.blas_threads}",
        "threads": rows, "transitions": int(n), "blas_threads": args.blas_threads,
        "blas_threads_in_effect": blas_effective, "machine": machine_info(),
        "env": threading_env(),
        "uptime_start": load_start, "uptime_end": uptime(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out["steps_per_iteration_fused"] = int(cfg.epochs * -(-n // cfg.batch_size))
    path = Path(args.out or f"results/bench/update_scaling_{args.preset}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    for t, r in rows.items():
        step, sp = r["per_step"], r["speedup"]
        print(f"{t} thread(s): fused update {r['fused_update']['median_s'] * 1e3:8.2f} ms "
              f"(x{sp['fused_update']:.2f}); per step: shards {step['shard_steps']['median_s'] * 1e6:7.1f} us "
              f"(x{sp['shard_steps']:.2f}), with combine+Adam {step['full_steps']['median_s'] * 1e6:7.1f} us "
              f"(x{sp['full_steps']:.2f}); combine+Adam {r['combine_and_adam_per_step_s'] * 1e6:6.1f} us; "
              f"same parameters {r['same_parameters_as_1_thread']}")
    print(f"written {path}")


if __name__ == "__main__":
    main()
