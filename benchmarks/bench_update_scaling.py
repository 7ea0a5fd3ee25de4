"""Update thread scaling, and what the parameter update between steps costs each thread count.

Three measurements at 1..N Numba threads, each a median of repeats after a warm-up, on the same state:

  fused update      `Trainer.update` of one iteration (all epochs), from the same saved state each time;
                    the parameters after it must be identical for every thread count.
  gradient steps    one minibatch's gradient, repeated with nothing written between repeats. Row shards
                    (resmlp, most mlp): forward, head gradients and backward of its row shards
                    (`shard_steps`); unit halves (`numbaplay.ppo.update.unit_halves`): the rows and units
                    phases of `unit_epochs` (forward, head gradients and the layers' input gradients per
                    shard, then the weight gradients per unit half), in one region with spin barriers as
                    training runs them.
  full steps        the same, each followed by what the update does with the gradient: row shards the
                    gradient sum, norm and Adam over chunks; unit halves the norm and Adam per unit half;
                    both with learning rate 0, so every byte a step writes is written and no value changes.

`full - gradient` is what the parameter update costs per step, including moving the cache lines that one
core wrote and the other reads next. Writes results/bench/update_scaling_<preset>.json.

    python benchmarks/bench_update_scaling.py --preset ttt-seed --repeats 5
"""
import argparse
import json
import time
from pathlib import Path

import numba
import numpy as np
from bench_threads import (  # this folder is on sys.path when a benchmark runs as a script
    add_thread_options,
    summary,
    update_state,
)
from numba import njit, prange

from numbaplay.nn.adam import adam_coefs, adam_pieces, adam_step, combine_grad_norm
from numbaplay.nn.net import unit_pieces
from numbaplay.nn.rows import UNIT_PARTS, shard_cuts
from numbaplay.nn.sync import IDLE, SOLO, new_sync, pair_role, sync_point
from numbaplay.omp import prange_only, threading_env, use_short_spin
from numbaplay.ppo.trainer import Trainer
from numbaplay.ppo.update import UNIT_STRIDE, gather, shard_steps, unit_gradient, unit_halves, unit_norm
from numbaplay.presets import preset
from numbaplay.profile.machine import blas_limits, blas_threads_in_effect, uptime
from numbaplay.runs import machine_info


@njit(parallel=prange_only())  # `shard_steps`'s loop over shards is a prange of its caller
def _steps(reps, full, cuts, grads, sums, params, m, v, spec, offs, bx, bmask, baction, blogp, badv, bret,
           logits, vpre, dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, clip_eps, vf_coef, ent_coef):
    k = cuts.shape[0] - 1
    for _ in range(reps):
        shard_steps(cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits,
                    vpre, dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, clip_eps, vf_coef, ent_coef)
        if full:
            norm = combine_grad_norm(grads, k)
            adam_step(params, grads[0], m, v, 1, 0.0, 0.5, norm)


@njit
def _unit_share(role, sync, reps, full, perm, cuts, grad, sums, partial, params, m, v, spec, offs, obs, mask,
                action, logp, adv, ret, bx, bmask, baction, blogp, badv, bret, logits, vpre, dlogits, dvpre, hs, us,
                pre, xh, rs, clip_eps, vf_coef, ent_coef):
    """This thread's share of `reps` unit-half steps on rows perm[:n], the phases of `unit_epochs`."""
    first = 1 if role == 1 else 0
    last = 1 if role == 0 else UNIT_PARTS
    phase = 0
    for _ in range(reps):
        phase = unit_gradient(role, sync, phase, cuts, 0, perm, grad, partial, params, spec, offs, obs, mask,
                              action, logp, adv, ret, bx, bmask, baction, blogp, badv, bret, logits, vpre, dlogits,
                              dvpre, hs, us, pre, xh, rs, sums, clip_eps, vf_coef, ent_coef)
        if full:
            clip, scale, a, sc = adam_coefs(1, 0.0, 0.5, unit_norm(partial))
            for part in range(first, last):
                adam_pieces(params, grad, m, v, unit_pieces(spec, offs, part), clip, scale, a, sc)
        phase = sync_point(sync, phase, role)


@njit(parallel=True)
def _unit_pair(sync, reps, full, perm, cuts, grad, sums, partial, params, m, v, spec, offs, obs, mask, action,
               logp, adv, ret, bx, bmask, baction, blogp, badv, bret, logits, vpre, dlogits, dvpre, hs, us, pre, xh,
               rs, clip_eps, vf_coef, ent_coef):
    for _ in prange(2):
        role = pair_role(sync)
        if role != IDLE:
            _unit_share(role, sync, reps, full, perm, cuts, grad, sums, partial, params, m, v, spec, offs, obs,
                        mask, action, logp, adv, ret, bx, bmask, baction, blogp, badv, bret, logits, vpre, dlogits,
                        dvpre, hs, us, pre, xh, rs, clip_eps, vf_coef, ent_coef)


def main():
    use_short_spin()  # the OpenMP spin training runs with (numbaplay/omp.py)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="ttt-seed", help="Named configuration.")
    ap.add_argument("--repeats", type=int, default=5, help="Timed runs of each measurement per thread count.")
    ap.add_argument("--steps", type=int, default=100, help="Minibatch steps per timed run of the step loops.")
    add_thread_options(ap)
    ap.add_argument("--shards", type=int, default=None, help="Override update_shards (the preset's by default).")
    ap.add_argument("--counts", default=None,
                    help="Thread counts to time, comma-separated (default 1..--max-threads; 1 is always timed).")
    ap.add_argument("--out", default=None, help="Output JSON (default results/bench/update_scaling_<preset>.json).")
    args = ap.parse_args()
    cfg = preset(args.preset)
    if args.shards:
        cfg = cfg.replace(update_shards=args.shards)
    counts = sorted({1, *(int(c) for c in args.counts.split(","))}) if args.counts else range(1, args.max_threads + 1)
    load_start = uptime()
    rows = {}
    with blas_limits(args.blas_threads):
        tr = Trainer(cfg)
        n, restore = update_state(tr)

        # One minibatch, the first rows of the buffer, for the step loops; its own moment copies.
        b = min(cfg.batch_size, n)
        gather(tr.bx, tr.bmask, tr.baction, tr.blogp, tr.badv, tr.bret, np.arange(b), tr.obs, tr.mask,
               tr.action, tr.logp, tr.adv_norm, tr.ret)
        cuts = shard_cuts(b, tr.grads.shape[0])  # the most shards a minibatch takes (`shard_limit`)
        sums = np.zeros((tr.grads.shape[0], 5), np.float64)
        ws = tr.ws_upd
        m, v = tr.m.copy(), tr.v.copy()

        units = unit_halves(tr.spec_arr, cfg.batch_size)
        perm = np.arange(n, dtype=np.int64)
        partial = np.zeros(UNIT_PARTS * UNIT_STRIDE)

        def steps(reps, full):
            if not units:
                _steps(reps, full, cuts, tr.grads, sums, tr.params, m, v, tr.spec_arr, tr.offs, tr.bx, tr.bmask,
                       tr.baction, tr.blogp, tr.badv, tr.bret, tr.blogits, tr.bvpre, tr.dlogits, tr.dvpre, ws.hs,
                       ws.us, ws.pre, ws.xh, ws.rs, ws.dh, ws.dt, cfg.clip_eps, cfg.vf_coef, tr.entropy_coef())
                return
            args = (reps, full, perm, cuts, tr.grads[0], sums, partial, tr.params, m, v, tr.spec_arr, tr.offs,
                    tr.obs, tr.mask, tr.action, tr.logp, tr.adv_norm, tr.ret, tr.bx, tr.bmask, tr.baction, tr.blogp,
                    tr.badv, tr.bret, tr.blogits, tr.bvpre, tr.dlogits, tr.dvpre, ws.hs, ws.us, ws.pre, ws.xh,
                    ws.rs, cfg.clip_eps, cfg.vf_coef, tr.entropy_coef())
            if numba.get_num_threads() < 2:
                _unit_share(SOLO, new_sync(), *args)
            else:
                _unit_pair(new_sync(), *args)

        reference = None
        for threads in counts:
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
            for name, full in (("grad_steps", False), ("full_steps", True)):
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
                           for k in ("grad_steps", "full_steps")}}
        r["param_update_per_step_s"] = (r["per_step"]["full_steps"]["median_s"]
                                        - r["per_step"]["grad_steps"]["median_s"])
    out = {
        "benchmark": "update_scaling", "preset": args.preset, "minibatch_rows": b,
        "shards": int(cuts.shape[0] - 1),
        "step_design": "unit halves" if unit_halves(tr.spec_arr, cfg.batch_size) else "row shards",
        "command": f"python benchmarks/bench_update_scaling.py --preset {args.preset} --repeats {args.repeats} "
                   f"--steps {args.steps} --max-threads {args.max_threads} --blas-threads {args.blas_threads}"
                   + (f" --shards {args.shards}" if args.shards else "")
                   + (f" --counts {args.counts}" if args.counts else ""),
        "update_shards": cfg.update_shards,
        "threads": rows, "transitions": int(n), "blas_threads": args.blas_threads,
        "blas_threads_in_effect": blas_effective, "machine": machine_info(),
        "env": threading_env(),
        "uptime_start": load_start, "uptime_end": uptime(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out["steps_per_iteration_fused"] = int(cfg.epochs * -(-n // cfg.batch_size))
    suffix = f"_shards{args.shards}" if args.shards else ""
    path = Path(args.out or f"results/bench/update_scaling_{args.preset}{suffix}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    for t, r in rows.items():
        step, sp = r["per_step"], r["speedup"]
        print(f"{t} thread(s): fused update {r['fused_update']['median_s'] * 1e3:8.2f} ms "
              f"(x{sp['fused_update']:.2f}); per step: gradient {step['grad_steps']['median_s'] * 1e6:7.1f} us "
              f"(x{sp['grad_steps']:.2f}), with the update {step['full_steps']['median_s'] * 1e6:7.1f} us "
              f"(x{sp['full_steps']:.2f}); update {r['param_update_per_step_s'] * 1e6:6.1f} us; "
              f"same parameters {r['same_parameters_as_1_thread']}")
    print(f"written {path}")


if __name__ == "__main__":
    main()
