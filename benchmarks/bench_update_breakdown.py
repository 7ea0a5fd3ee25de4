"""Where a resmlp update step's time goes, timed inside the step with the CPU's cycle counter.

`numbaplay profile` times the update's phases as separate calls from Python, which read about 20% slower
than the fused kernel and cannot split a phase into its GEMMs. This benchmark runs a copy of the fused
row-shard update (`numbaplay.ppo.update.ppo_epochs` with `shard_steps`, and the resmlp branches of
`numbaplay.nn.net.forward_at` and `backward_at`) with a cycle-counter read around every call, on one
iteration's real transitions. It first checks that the copy leaves the parameters bit for bit as the
package's own update does, so the copy cannot drift from the kernels it stands for.

Per step, it reports each shard's time in every kind of call (the block GEMMs of the forward, x W^T, and of
the backward, the weight gradient dA^T u and the input gradient dA W; LayerNorm, GELU and their backwards;
the input layer; the heads and the loss) and the step's serial parts (gathering the minibatch, summing the
shard gradients with the norm, Adam). Then it times the same calls alone in a loop on one thread, on the
same shapes, where their operands stay in the core's caches: the ratio of the two is what running inside
the step costs each kind of call.

    python benchmarks/bench_update_breakdown.py --preset c4-seed --rounds 5

Writes results/bench/update_breakdown_<preset>.json.
"""
import argparse
import json
import time
from pathlib import Path

import numba
import numpy as np
from bench_threads import summary, update_state  # this folder is on sys.path when a benchmark runs as a script
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from numbaplay.nn import net
from numbaplay.nn.adam import adam_step, combine_grad_norm
from numbaplay.nn.blas import gemm_nn, gemm_nt, gemm_tn
from numbaplay.nn.fpenv import flush_enter, flush_exit
from numbaplay.nn.params import MLP
from numbaplay.nn.policy import head_stats, ppo_head_rows
from numbaplay.nn.rows import copy_row, shard_cuts
from numbaplay.nn.sync import aligned_zeros
from numbaplay.omp import threading_env, use_short_spin
from numbaplay.ppo.trainer import Trainer
from numbaplay.ppo.update import STAT_NAMES, gather, minibatch_bounds, unit_halves
from numbaplay.presets import preset
from numbaplay.profile.machine import blas_limits, blas_threads_in_effect, uptime
from numbaplay.rng import SHUFFLE, permutation, stream_key
from numbaplay.runs import machine_info


@intrinsic
def cycles(typingctx):
    """The CPU's cycle counter (`llvm.readcyclecounter`: rdtsc on x86-64, a constant rate)."""
    sig = types.int64()

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []),
                                            "llvm.readcyclecounter")
        return builder.call(fn, [])

    return sig, codegen


@njit
def read_cycles():
    return cycles()


# Columns of a shard's row of the timer array, and the step's row (STEP_ROW).
SHARD_PARTS = ("in_layer", "layernorm", "gemm_xWt", "gelu", "out_heads", "head_loss", "bwd_heads",
               "gelu_grad", "gemm_dAtu", "gemm_dAW", "layernorm_bwd", "bwd_in_layer", "shard_total")
STEP_PARTS = ("gather", "shards", "combine_norm", "adam")
MAX_SHARDS = 2  # the default `update_shards`, the design this breakdown times
STEP_ROW = MAX_SHARDS
(IN, LN, XW, GELU, OUT, LOSS, BHEADS, GGRAD, DATU, DAW, LNB, BIN, TOTAL) = range(len(SHARD_PARTS))


@njit(error_model="numpy")
def forward_timed(tm, params, spec, offs, x, r0, n, hs, us, pre, xh, rs, logits, vpre):
    """The resmlp branch of `forward_at`, each call timed into tm (SHARD_PARTS columns)."""
    obs_size, hid, depth, n_act = spec[1], spec[2], spec[3], spec[4]
    zero = np.float32(0.0)
    r1 = r0 + n
    c0 = cycles()
    h = hs[0, r0:r1]
    gemm_nt(h, x[r0:r1], params[offs[0]:offs[1]].reshape(hid, obs_size), zero)
    net._add_bias(h, params[offs[1]:offs[2]], False)
    tm[IN] += cycles() - c0
    for k in range(1, depth):
        t = 2 + 4 * (k - 1)
        w = params[offs[t + 2]:offs[t + 3]].reshape(hid, hid)
        c0 = cycles()
        net._layernorm(us[k - 1, r0:r1], xh[k - 1, r0:r1], rs[k - 1, r0:r1], h, params[offs[t]:offs[t + 1]],
                       params[offs[t + 1]:offs[t + 2]])
        c1 = cycles()
        a = pre[k - 1, r0:r1]
        gemm_nt(a, us[k - 1, r0:r1], w, zero)
        c2 = cycles()
        net._bias_residual_gelu(h, hs[k, r0:r1], a, params[offs[t + 3]:offs[t + 4]])
        c3 = cycles()
        tm[LN] += c1 - c0
        tm[XW] += c2 - c1
        tm[GELU] += c3 - c2
    c0 = cycles()
    t = 2 + 4 * (depth - 1)
    j = depth - 1
    net._layernorm(us[j, r0:r1], xh[j, r0:r1], rs[j, r0:r1], h, params[offs[t]:offs[t + 1]],
                   params[offs[t + 1]:offs[t + 2]])
    y = us[j, r0:r1]
    t = net._heads_start(spec, offs)
    gemm_nt(logits[r0:r1], y, params[offs[t]:offs[t + 1]].reshape(n_act, hid), zero)
    net._add_bias(logits[r0:r1], params[offs[t + 1]:offs[t + 2]], False)
    vw = params[offs[t + 2]:offs[t + 3]]
    vb = params[offs[t + 3]]
    vp = vpre[r0:r1]
    for i in range(n):
        vp[i] = net._dot8(y[i], vw) + vb
    tm[OUT] += cycles() - c0


@njit(error_model="numpy")
def backward_timed(tm, grad, params, spec, offs, x, r0, n, hs, us, pre, xh, rs, dlogits, dvpre, dh, dt):
    """The resmlp branch of `backward_at`, each call timed into tm (SHARD_PARTS columns)."""
    obs_size, hid, depth = spec[1], spec[2], spec[3]
    zero = np.float32(0.0)
    r1 = r0 + n
    c0 = cycles()
    dv = dvpre[r0:r1]
    net._heads_grad(grad, spec, offs, dlogits[r0:r1], dv, us[depth - 1, r0:r1])
    d = dh[r0:r1]
    net._heads_input_grad(d, params, spec, offs, dlogits[r0:r1], dv)
    t = 2 + 4 * (depth - 1)
    dx = dt[r0:r1]
    net._layernorm_backward(dx, grad[offs[t]:offs[t + 1]], grad[offs[t + 1]:offs[t + 2]], d,
                            xh[depth - 1, r0:r1], rs[depth - 1, r0:r1], params[offs[t]:offs[t + 1]], False)
    for i in range(d.shape[0]):
        copy_row(d[i], dx[i])
    tm[BHEADS] += cycles() - c0
    for k in range(depth - 1, 0, -1):
        t = 2 + 4 * (k - 1)
        a = pre[k - 1, r0:r1]
        c0 = cycles()
        net._times_gelu_grad(dx, grad[offs[t + 3]:offs[t + 4]], d, a, hs[k, r0:r1])
        c1 = cycles()
        gemm_tn(grad[offs[t + 2]:offs[t + 3]].reshape(hid, hid), dx, us[k - 1, r0:r1], zero)
        c2 = cycles()
        gemm_nn(a, dx, params[offs[t + 2]:offs[t + 3]].reshape(hid, hid), zero)  # du, into pre[k-1]
        c3 = cycles()
        net._layernorm_backward(d, grad[offs[t]:offs[t + 1]], grad[offs[t + 1]:offs[t + 2]], a,
                                xh[k - 1, r0:r1], rs[k - 1, r0:r1], params[offs[t]:offs[t + 1]], True)
        c4 = cycles()
        tm[GGRAD] += c1 - c0
        tm[DATU] += c2 - c1
        tm[DAW] += c3 - c2
        tm[LNB] += c4 - c3
    c0 = cycles()
    gemm_tn(grad[offs[0]:offs[1]].reshape(hid, obs_size), d, x[r0:r1], zero)
    net._col_sum(grad[offs[1]:offs[2]], d)
    tm[BIN] += cycles() - c0


@njit(parallel=True)
def _shards_timed(tm, cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits, vpre,
                  dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, n, clip_eps, vf_coef, ent_coef):
    for s in prange(cuts.shape[0] - 1):
        fp = flush_enter()
        lo = cuts[s]
        rows = cuts[s + 1] - lo
        c0 = cycles()
        forward_timed(tm[s], params, spec, offs, bx, lo, rows, hs, us, pre, xh, rs, logits, vpre)
        c1 = cycles()
        ppo_head_rows(dlogits, dvpre, sums[s], logits, vpre, bmask, baction, blogp, badv, bret, lo, lo + rows, n,
                      clip_eps, vf_coef, ent_coef)
        c2 = cycles()
        backward_timed(tm[s], grads[s], params, spec, offs, bx, lo, rows, hs, us, pre, xh, rs, dlogits, dvpre,
                       dh, dt)
        tm[s, LOSS] += c2 - c1
        tm[s, TOTAL] += cycles() - c0
        flush_exit(fp)


@njit
def epochs_timed(tm, params, m, v, t, grads, stats, obs, mask, action, logp, adv, ret, n, spec, offs, seed,
                 iteration, epochs, batch_size, lr, clip_eps, vf_coef, ent_coef, max_grad_norm, bx, bmask,
                 baction, blogp, badv, bret, logits, vpre, dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, threads):
    """`ppo_epochs` (row shards) with its arguments, every part timed into tm: float64[MAX_SHARDS + 1, 16]
    cycles, rows 0..MAX_SHARDS-1 per shard (SHARD_PARTS), row STEP_ROW the step's parts (STEP_PARTS)."""
    perm = np.empty(n, dtype=np.int64)
    bounds = minibatch_bounds(n, batch_size)
    head = np.empty(6, dtype=np.float64)
    sums = np.empty((MAX_SHARDS, 5), dtype=np.float64)
    step = tm[STEP_ROW]
    for e in range(epochs):
        permutation(perm, stream_key(seed, SHUFFLE, iteration, e))
        for b in range(bounds.shape[0] - 1):
            c0 = cycles()
            lo = bounds[b]
            rows = bounds[b + 1] - lo
            gather(bx, bmask, baction, blogp, badv, bret, perm[lo:lo + rows], obs, mask, action, logp, adv, ret)
            cuts = shard_cuts(rows, MAX_SHARDS)
            c1 = cycles()
            _shards_timed(tm, cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits,
                          vpre, dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, rows, clip_eps, vf_coef, ent_coef)
            c2 = cycles()
            head_stats(head, sums, cuts.shape[0] - 1, rows, vf_coef, ent_coef)
            t += 1
            norm = combine_grad_norm(grads, cuts.shape[0] - 1)
            c3 = cycles()
            adam_step(params, grads[0], m, v, t, lr, max_grad_norm, norm)
            c4 = cycles()
            step[0] += c1 - c0
            step[1] += c2 - c1
            step[2] += c3 - c2
            step[3] += c4 - c3
    return t


# Calls alone in a loop on fixed operands (one thread, subnormals flushed as in the update): what each kind
# costs with its operands in cache.
@njit
def _loop_gemm(kind, reps, c, a, b):
    zero = np.float32(0.0)
    fp = flush_enter()  # subnormals flushed, as in the update
    c0 = cycles()
    for _ in range(reps):
        if kind == 0:
            gemm_nt(c, a, b, zero)
        elif kind == 1:
            gemm_tn(c, a, b, zero)
        else:
            gemm_nn(c, a, b, zero)
    c1 = cycles()
    flush_exit(fp)
    return (c1 - c0) / reps


@njit(error_model="numpy")
def _loop_elementwise(kind, reps, x, y, z, u, w, r, g, b, gb):
    fp = flush_enter()
    c0 = cycles()
    for _ in range(reps):
        if kind == 0:
            net._layernorm(y, z, r, x, g, b)
        elif kind == 1:
            net._bias_residual_gelu(u, w, z, b)
        elif kind == 2:
            net._times_gelu_grad(u, gb, y, x, w)
        else:
            net._layernorm_backward(u, g, gb, y, z, r, b, True)
    c1 = cycles()
    flush_exit(fp)
    return (c1 - c0) / reps


def alone(rows: int, hid: int, reps: int, hz: float) -> dict:
    """Seconds per call of each kind on rows x hid operands in a loop (median of 7 runs after one)."""
    rng = np.random.default_rng(0)

    def f32(*shape):  # on cache-line boundaries, as the step's buffers (`numbaplay.nn.sync.aligned_zeros`)
        out = aligned_zeros(shape)
        out[...] = rng.normal(size=shape)
        return out

    act, act2, wt = f32(rows, hid), f32(rows, hid), f32(hid, hid)
    out, gw = aligned_zeros((rows, hid)), aligned_zeros((hid, hid))
    wt *= 0.05
    x, y, z, u, w = f32(rows, hid), f32(rows, hid), f32(rows, hid), f32(rows, hid), f32(rows, hid)
    w[...] = 1.0 / (1.0 + np.exp(-w))
    r, g, b, gb = f32(rows), f32(hid), aligned_zeros(hid), aligned_zeros(hid)
    r[...] = np.abs(r) + 0.5
    calls = {"gemm_xWt": lambda k: _loop_gemm(0, k, out, act, wt),
             "gemm_dAtu": lambda k: _loop_gemm(1, k, gw, act, act2),
             "gemm_dAW": lambda k: _loop_gemm(2, k, out, act, wt),
             "layernorm": lambda k: _loop_elementwise(0, k, x, y, z, u, w, r, g, b, gb),
             "gelu": lambda k: _loop_elementwise(1, k, x, y, z, u, w, r, g, b, gb),
             "gelu_grad": lambda k: _loop_elementwise(2, k, x, y, z, u, w, r, g, b, gb),
             "layernorm_bwd": lambda k: _loop_elementwise(3, k, x, y, z, u, w, r, g, b, gb)}
    out_s = {}
    for name, call in calls.items():
        call(2)
        if name == "gelu":
            u[:] = x  # the residual stream grows by one GELU a call; start each run from the same values
        out_s[name] = float(np.median([call(reps) for _ in range(7)])) / hz
    return out_s


def main():
    use_short_spin()  # the OpenMP spin training runs with (numbaplay/omp.py)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="c4-seed", help="Named configuration (a resmlp network).")
    ap.add_argument("--rounds", type=int, default=5, help="Timed updates (one iteration's epochs each).")
    ap.add_argument("--threads", type=int, default=2, help="Numba threads.")
    ap.add_argument("--reps", type=int, default=200, help="Calls per run of the calls-alone loops.")
    ap.add_argument("--out", default=None, help="Output JSON (default results/bench/update_breakdown_<preset>.json).")
    args = ap.parse_args()
    cfg = preset(args.preset)
    if cfg.update_shards != MAX_SHARDS:
        raise SystemExit(f"this breakdown times update_shards = {MAX_SHARDS}; {args.preset} has {cfg.update_shards}")
    numba.set_num_threads(args.threads)
    load_start = uptime()
    with blas_limits(1):
        tr = Trainer(cfg)
        if tr.spec_arr[0] == MLP or unit_halves(tr.spec_arr, cfg.batch_size):
            raise SystemExit(f"bench_update_breakdown: preset {args.preset} is an mlp; this benchmark times the "
                             "resmlp row-shard step")
        n, restore = update_state(tr)

        tr.update(n)  # JIT, and the parameters the copy must reproduce
        reference = tr.params.copy()
        stats = np.zeros((cfg.epochs * (minibatch_bounds(n, cfg.batch_size).shape[0] - 1), len(STAT_NAMES)))
        tm = np.zeros((MAX_SHARDS + 1, 16))
        restore()
        update_args = tr._update_args(n, stats)  # Adam's step count as saved
        epochs_timed(tm, *update_args)
        same = bool(np.array_equal(tr.params, reference))
        if not same:
            raise SystemExit("bench_update_breakdown: the timed copy no longer leaves the parameters as the "
                             "package's update does; bring its copies of the kernels up to date")
        rounds, walls, fused = [], [], []
        for _ in range(args.rounds):
            restore()
            t0 = time.perf_counter()
            tr.update(n)
            fused.append(time.perf_counter() - t0)
            restore()
            tm[:] = 0
            c0, t0 = read_cycles(), time.perf_counter()
            epochs_timed(tm, *update_args)
            walls.append(time.perf_counter() - t0)
            rounds.append((tm.copy(), (read_cycles() - c0) / walls[-1]))
        restore()
        hz = float(np.median([h for _, h in rounds]))
        hid = int(tr.spec_arr[2])
        shard_rows = int(shard_cuts(min(cfg.batch_size, n), MAX_SHARDS)[1])
        loop = alone(shard_rows, hid, args.reps, hz)
        blas_effective = blas_threads_in_effect()
    steps = int(stats.shape[0])
    blocks = int(tr.spec_arr[3]) - 1
    shards = {}
    for s in range(MAX_SHARDS):
        shards[str(s)] = {p: float(np.median([t[s, i] for t, _ in rounds])) / hz / steps
                          for i, p in enumerate(SHARD_PARTS)}
    step = {p: float(np.median([t[STEP_ROW, i] for t, _ in rounds])) / hz / steps for i, p in enumerate(STEP_PARTS)}
    gemm_flop = 2.0 * shard_rows * hid * hid * blocks  # one kind of block GEMM, all blocks, one shard
    in_step = {}
    for p in loop:
        per_call = float(np.mean([shards[s][p] for s in shards])) / blocks
        in_step[p] = {"in_step_s": per_call, "alone_s": loop[p], "in_step_over_alone": per_call / loop[p]}
        if p.startswith("gemm"):
            in_step[p]["in_step_gflops"] = gemm_flop / blocks / per_call / 1e9
            in_step[p]["alone_gflops"] = gemm_flop / blocks / loop[p] / 1e9
    out = {
        "benchmark": "update_breakdown", "preset": args.preset, "threads": args.threads, "rounds": args.rounds,
        "transitions": int(n), "steps": steps, "shard_rows": shard_rows, "hidden": hid, "blocks": blocks,
        "same_parameters_as_fused": same,
        "fused_update": summary(fused), "timed_update": summary(walls),
        "cycle_counter_hz": hz,
        "per_step_s": {"shard": shards, "step": step},
        "per_call_block": in_step,
        "command": f"python benchmarks/bench_update_breakdown.py --preset {args.preset} --rounds {args.rounds} "
                   f"--threads {args.threads} --reps {args.reps}",
        "blas_threads_in_effect": blas_effective, "machine": machine_info(), "env": threading_env(),
        "uptime_start": load_start, "uptime_end": uptime(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = Path(args.out or f"results/bench/update_breakdown_{args.preset}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{args.preset}: fused update {np.median(fused) * 1e3:.1f} ms, timed copy {np.median(walls) * 1e3:.1f} ms "
          f"(same parameters: {same}); {steps} steps, {shard_rows}-row shards; microseconds per step:")
    for s, parts in shards.items():
        print(f"  shard {s}: " + ", ".join(f"{p} {v * 1e6:.0f}" for p, v in parts.items()))
    print("  step:    " + ", ".join(f"{p} {v * 1e6:.0f}" for p, v in step.items()))
    print("per call (one block), in the step / alone in a loop:")
    for p, r in in_step.items():
        rate = (f" ({r['in_step_gflops']:.0f} / {r['alone_gflops']:.0f} GFLOP/s)" if "in_step_gflops" in r else "")
        print(f"  {p:14s} {r['in_step_s'] * 1e6:7.1f} / {r['alone_s'] * 1e6:7.1f} us = "
              f"{r['in_step_over_alone']:.2f}{rate}")
    print(f"written {path}")


if __name__ == "__main__":
    main()
