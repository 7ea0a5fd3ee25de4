"""A design not adopted yet, measured: the update step with weight gradients split by units, not by rows.

Training's step (`numbaplay.ppo.update`) cuts a minibatch into two row shards; each shard runs forward and
the whole backward into its own gradient buffer (P floats), then the buffers are summed with the norm and
Adam runs over parameter chunks. With 2 cores every step moves each shard's gradient and the updated
parameters between the cores' caches.

The prototype here (mlp only, the `ttt-seed` shape; heads left out of the weight gradients) runs three
parallel regions instead:

  R1  per row shard: forward, then backward through the layers' inputs only (dX = dY W), keeping every
      layer's dY for its rows;
  R2  per unit half (owner 0: units 0..H/2-1 of every layer, owner 1: the rest): the weight gradient rows
      of its units over all minibatch rows (one K = rows GEMM per layer), bias sums, the squared norm;
  R3  per unit half: Adam on its own parameters (learning rate 0, so no value changes).

No second gradient buffer and no combine pass; each half's gradient and Adam state stay with one core.
The hidden layers' gradients are checked against the row-sharded ones (they differ only in the BLAS
summation order). Both steps are timed in alternating rounds, medians of repeats; per-region times too.

    python benchmarks/bench_unit_sharded_step.py --rounds 3
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
from bench_threads import summary  # this folder is on sys.path when a benchmark runs as a script
from numba import njit, prange

from numbaplay.nn.adam import _adam_range, adam_step, combine_grad_norm
from numbaplay.nn.blas import gemm_nn, gemm_tn
from numbaplay.nn.fpenv import flush_enter, flush_exit
from numbaplay.nn.lanes import sumsq8
from numbaplay.nn.net import _relu_mask, forward_at
from numbaplay.nn.rows import shard_cuts
from numbaplay.omp import threading_env, use_short_spin
from numbaplay.ppo.trainer import Trainer
from numbaplay.ppo.update import gather, shard_steps
from numbaplay.presets import preset
from numbaplay.profile.machine import uptime
from numbaplay.runs import machine_info


@njit(inline="always")
def _r1(s, cuts, params, spec, offs, x, hs, us, pre, xh, rs, logits, vpre, dlogits, dvpre, dys):
    fp = flush_enter()
    hid, depth, n_act = spec[2], spec[3], spec[4]
    lo, hi = cuts[s], cuts[s + 1]
    forward_at(params, spec, offs, x, lo, hi - lo, hs, us, pre, xh, rs, logits, vpre)
    t = 2 * depth
    vw = params[offs[t + 2]:offs[t + 3]]
    d = dys[depth - 1, lo:hi]
    gemm_nn(d, dlogits[lo:hi], params[offs[t]:offs[t + 1]].reshape(n_act, hid), np.float32(0.0))
    for i in range(hi - lo):
        for j in range(hid):
            d[i, j] += dvpre[lo + i] * vw[j]
    for k in range(depth - 1, -1, -1):
        _relu_mask(dys[k, lo:hi], hs[k, lo:hi])
        if k > 0:
            gemm_nn(dys[k - 1, lo:hi], dys[k, lo:hi], params[offs[2 * k]:offs[2 * k + 1]].reshape(hid, hid),
                    np.float32(0.0))
    flush_exit(fp)


@njit(parallel=True)
def region1(cuts, params, spec, offs, x, hs, us, pre, xh, rs, logits, vpre, dlogits, dvpre, dys):
    for s in prange(cuts.shape[0] - 1):
        _r1(s, cuts, params, spec, offs, x, hs, us, pre, xh, rs, logits, vpre, dlogits, dvpre, dys)


@njit(inline="always")
def _r2(o, n, grad, spec, offs, x, hs, dys, partial):
    fp = flush_enter()
    obs_size, hid, depth = spec[1], spec[2], spec[3]
    half = hid // 2
    u0, u1 = o * half, (o + 1) * half
    ss = 0.0
    for k in range(depth):
        fan_in = obs_size if k == 0 else hid
        src = x[0:n] if k == 0 else hs[k - 1, 0:n]
        gw = grad[offs[2 * k] + u0 * fan_in:offs[2 * k] + u1 * fan_in]
        gemm_tn(gw.reshape(half, fan_in), dys[k, 0:n, u0:u1], src, np.float32(0.0))
        gb = grad[offs[2 * k + 1] + u0:offs[2 * k + 1] + u1]
        gb[:] = 0.0
        for i in range(n):
            row = dys[k, i, u0:u1]
            for j in range(half):
                gb[j] += row[j]
        ss += sumsq8(gw) + sumsq8(gb)
    partial[o] = ss
    flush_exit(fp)


@njit(parallel=True)
def region2(n, grad, spec, offs, x, hs, dys, partial):
    for o in prange(2):
        _r2(o, n, grad, spec, offs, x, hs, dys, partial)


@njit(parallel=True)
def region3(params, grad, m, v, spec, offs):
    obs_size, hid, depth = spec[1], spec[2], spec[3]
    half = hid // 2
    for o in prange(2):
        u0, u1 = o * half, (o + 1) * half
        for k in range(depth):
            fan_in = obs_size if k == 0 else hid
            for lo, hi in ((offs[2 * k] + u0 * fan_in, offs[2 * k] + u1 * fan_in),
                           (offs[2 * k + 1] + u0, offs[2 * k + 1] + u1)):
                _adam_range(params[lo:hi], grad[lo:hi], m[lo:hi], v[lo:hi], np.float32(1.0), False,
                            np.float32(0.0), np.float32(1.0))


@njit
def unit_steps(reps, upto, cuts, params, grad, m, v, spec, offs, x, hs, us, pre, xh, rs, logits, vpre, dlogits,
               dvpre, dys, partial):
    n = cuts[cuts.shape[0] - 1]
    for _ in range(reps):
        if upto[0]:
            region1(cuts, params, spec, offs, x, hs, us, pre, xh, rs, logits, vpre, dlogits, dvpre, dys)
        if upto[1]:
            region2(n, grad, spec, offs, x, hs, dys, partial)
        if upto[2]:
            region3(params, grad, m, v, spec, offs)


@njit
def row_steps(reps, cuts, grads, sums, params, m, v, spec, offs, bx, bmask, baction, blogp, badv, bret, logits,
              vpre, dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, clip_eps, vf_coef, ent_coef):
    for _ in range(reps):
        shard_steps(cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits, vpre,
                    dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, clip_eps, vf_coef, ent_coef)
        norm = combine_grad_norm(grads, cuts.shape[0] - 1)
        adam_step(params, grads[0], m, v, 1, 0.0, 0.5, norm)


def main():
    use_short_spin()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="ttt-seed", help="A named mlp configuration.")
    ap.add_argument("--rounds", type=int, default=3, help="Alternating rounds of both steps.")
    ap.add_argument("--repeats", type=int, default=5, help="Timed runs of each measurement per round.")
    ap.add_argument("--steps", type=int, default=100, help="Steps per timed run.")
    ap.add_argument("--out", default=None, help="Output JSON (default results/bench/unit_sharded_step_<preset>.json).")
    args = ap.parse_args()
    cfg = preset(args.preset)
    if cfg.arch != "mlp" or cfg.hidden % 2:
        raise SystemExit("the prototype covers mlp presets with an even hidden width")
    load_start = uptime()
    tr = Trainer(cfg)
    n = tr.rollout()
    tr.advantages(n)
    b = min(cfg.batch_size, n)
    gather(tr.bx, tr.bmask, tr.baction, tr.blogp, tr.badv, tr.bret, np.arange(b), tr.obs, tr.mask, tr.action,
           tr.logp, tr.adv_norm, tr.ret)
    cuts = shard_cuts(b)
    ws = tr.ws_upd
    sums = np.zeros((tr.grads.shape[0], 5))
    m, v = tr.m.copy(), tr.v.copy()
    dys = np.zeros((cfg.depth, b, cfg.hidden), np.float32)
    partial = np.zeros(2)
    grad = np.zeros_like(tr.params)
    ent = tr.entropy_coef()

    def rows(reps):
        row_steps(reps, cuts, tr.grads, sums, tr.params, m, v, tr.spec_arr, tr.offs, tr.bx, tr.bmask, tr.baction,
                  tr.blogp, tr.badv, tr.bret, tr.blogits, tr.bvpre, tr.dlogits, tr.dvpre, ws.hs, ws.us, ws.pre,
                  ws.xh, ws.rs, ws.dh, ws.dt, cfg.clip_eps, cfg.vf_coef, ent)

    def units(upto):
        def run(reps):
            unit_steps(reps, np.array(upto), cuts, tr.params, grad, m, v, tr.spec_arr, tr.offs, tr.bx, ws.hs,
                       ws.us, ws.pre, ws.xh, ws.rs, tr.blogits, tr.bvpre, tr.dlogits, tr.dvpre, dys, partial)
        return run

    # The row-sharded step leaves the head gradients (dlogits, dvpre) the prototype starts from, then both
    # weight gradients of the hidden layers are compared.
    rows(1)
    units((True, True, False))(1)
    rel = {}
    for k in range(cfg.depth):
        for t in (2 * k, 2 * k + 1):
            ref = tr.grads[0, tr.offs[t]:tr.offs[t + 1]]
            got = grad[tr.offs[t]:tr.offs[t + 1]]
            rel[f"tensor{t}"] = float(np.max(np.abs(got - ref)) / max(float(np.max(np.abs(ref))), 1e-30))
    measures = {"row_sharded_step": rows, "unit_sharded_step": units((True, True, True)),
                "R1": units((True, False, False)), "R1+R2": units((True, True, False)),
                "R2 alone": units((False, True, False)), "R3 alone": units((False, False, True))}
    times = {name: [] for name in measures}
    for r in range(args.rounds):
        order = list(measures) if r % 2 == 0 else list(reversed(measures))
        for name in order:
            f = measures[name]
            f(2)
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                f(args.steps)
                times[name].append((time.perf_counter() - t0) / args.steps)
    result = {name: summary(v) for name, v in times.items()}
    out = {
        "benchmark": "unit_sharded_step", "preset": args.preset, "minibatch_rows": int(b),
        "command": f"python benchmarks/bench_unit_sharded_step.py --preset {args.preset} --rounds {args.rounds} "
                   f"--repeats {args.repeats} --steps {args.steps}",
        "per_step": result, "hidden_grad_max_rel_diff": rel,
        "ratio_unit_over_row": result["unit_sharded_step"]["median_s"] / result["row_sharded_step"]["median_s"],
        "machine": machine_info(), "env": threading_env(), "uptime_start": load_start, "uptime_end": uptime(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = Path(args.out or f"results/bench/unit_sharded_step_{args.preset}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    for name, s in result.items():
        print(f"{name:20s} {s['median_s'] * 1e6:7.1f} us per step (min {s['min_s'] * 1e6:.1f}, "
              f"max {s['max_s'] * 1e6:.1f})")
    print(f"unit / row sharded: {out['ratio_unit_over_row']:.3f}; hidden-layer gradients: largest relative "
          f"difference {max(rel.values()):.2e}")
    print(f"written {path}")


if __name__ == "__main__":
    main()
