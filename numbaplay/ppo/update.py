"""The PPO update of one iteration: epochs of shuffled minibatches (SPEC section 6).

Each minibatch step cuts the minibatch into row shards (`numbaplay.nn.rows.shard_cuts`, fixed by its row
count and the configuration's `update_shards`, two by default; the unit-half step always two) and runs on
the Numba threads; every piece runs with subnormals flushed to zero
(`numbaplay.nn.fpenv`). `ppo_epochs` (row shards) and `ppo_epochs_mlp` (unit halves) run all steps in one
compiled call (`epochs_kernel` picks one by `unit_halves`); `numbaplay.profile.phases` times the pieces
apart. Two step designs:

row shards (`shard_steps`; resmlp, and an mlp whose minibatches are large for its size): the minibatch's
    rows are gathered; forward, the loss gradient at the heads (`ppo_head_rows`, loss statistics summed
    per shard) and the whole backward run per shard into the shard's own gradient buffer, in one parallel
    region; then the shard gradients are summed in shard order with the gradient norm (chunks of the flat
    vector), and clip + Adam over the same chunks.
unit halves (`unit_epochs`; an mlp whose minibatches are small for its size, `unit_halves`): all steps of
    all epochs run in one parallel region of two threads kept in step by spin barriers
    (`numbaplay.nn.sync`), three phases a step:
      rows   per shard: gather its rows, forward, loss gradient at the heads, and the gradient at every
             layer's pre-activation (`backward_inputs_at`);
      units  per unit half (`numbaplay.nn.rows.unit_cuts`): the weight and bias gradients of its units over
             all rows, one GEMM a layer (`weight_grads_units`), part 0 also the heads, with the sum of
             squares of its pieces;
      adam   the norm (part 0's sum plus part 1's), then clip + Adam per unit half (`unit_pieces`).
    A half's gradient and Adam state stay with one core, and no shard gradients are summed. On this
    2-core machine that is faster when the parameters outweigh the other shard's activations, which the
    units phase reads from the other core (`UNIT_ACTIVATION_RATIO`): `ttt-seed`'s update took 0.88 of the
    row-shard time, the `tictactoe` preset's 1.07.
"""
import math

import numpy as np
from numba import njit, prange

from numbaplay.nn.adam import adam_coefs, adam_pieces, adam_step, combine_grad_norm
from numbaplay.nn.fpenv import flush_enter, flush_exit
from numbaplay.nn.net import backward_at, backward_inputs_at, forward_at, unit_pieces, weight_grads_units
from numbaplay.nn.params import NetSpec, n_params
from numbaplay.nn.policy import head_stats, ppo_head_rows
from numbaplay.nn.rows import UNIT_PARTS, copy_row, even_cuts, shard_cuts
from numbaplay.nn.sync import IDLE, SOLO, SYNC_SIZE, pair_role, sync_point
from numbaplay.omp import launch_threads, prange_only
from numbaplay.rng import SHUFFLE, permutation, stream_key

launch_threads()  # before any cached kernel loads (numbaplay/omp.py)

# Columns of the per-minibatch statistics array.
STAT_NAMES = ("policy", "value", "entropy", "approx_kl", "clip_frac", "total", "grad_norm", "rows")


@njit(cache=True)
def minibatch_bounds(n, batch_size):
    """int64[k+1] cut points of k = ceil(n / batch_size) batches, sizes differing by at most one, larger first.
    No transitions, no batch (k = 0): an iteration whose every game ended before the learner moved takes
    no Adam step, as the twin and the C reference."""
    if n <= 0:
        return np.zeros(1, dtype=np.int64)
    return even_cuts(n, (n + batch_size - 1) // batch_size)


@njit(cache=True, inline="always")
def gather(bx, bmask, baction, blogp, badv, bret, idx, obs, mask, action, logp, adv, ret):
    """Copy the rows idx of the transition buffer into minibatch buffers (first len(idx) rows)."""
    for r in range(idx.shape[0]):
        i = idx[r]
        copy_row(bx[r], obs[i])
        copy_row(bmask[r], mask[i])
        baction[r] = action[i]
        blogp[r] = logp[i]
        badv[r] = adv[i]
        bret[r] = ret[i]


@njit(cache=True, inline="always")
def _shard_step(s, cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits, vpre,
                dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, n, clip_eps, vf_coef, ent_coef):
    fp = flush_enter()
    lo = cuts[s]
    rows = cuts[s + 1] - lo
    forward_at(params, spec, offs, bx, lo, rows, hs, us, pre, xh, rs, logits, vpre)
    ppo_head_rows(dlogits, dvpre, sums[s], logits, vpre, bmask, baction, blogp, badv, bret, lo, lo + rows, n,
                  clip_eps, vf_coef, ent_coef)
    backward_at(grads[s], params, spec, offs, bx, lo, rows, hs, us, pre, xh, rs, dlogits, dvpre, dh, dt)
    flush_exit(fp)


@njit(cache=True, inline="always")
def shard_steps(cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits, vpre,
                dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, clip_eps, vf_coef, ent_coef):
    """Forward, head gradients and backward of each shard [cuts[s], cuts[s+1]) of a minibatch of
    n = cuts[-1] rows, shards in parallel: gradient into grads[s], loss sums into sums[s] (float64[5]).
    Its loop over shards is a `prange` of the kernel it is inlined into, which compiles it as a parallel
    region when built with `parallel=prange_only()` (`ppo_epochs`), serially otherwise."""
    n = cuts[cuts.shape[0] - 1]
    if cuts.shape[0] == 2:  # one shard: no parallel region
        _shard_step(0, cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits, vpre,
                    dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, n, clip_eps, vf_coef, ent_coef)
    else:
        for s in prange(cuts.shape[0] - 1):
            _shard_step(s, cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits,
                        vpre, dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, n, clip_eps, vf_coef, ent_coef)


@njit(cache=True, inline="always")
def _record_step(stats, row, head, norm, rows):
    """Row `row` of the per-minibatch statistics (STAT_NAMES): the six head statistics, norm, rows."""
    for c in range(6):
        stats[row, c] = head[c]
    stats[row, 6] = norm
    stats[row, 7] = rows


# partial[UNIT_STRIDE * part]: the sum of squares of unit part `part`'s gradient (a cache line apart).
UNIT_STRIDE = 8


@njit(cache=True)
def _unit_rows(s, cuts, lo, perm, params, spec, offs, obs, mask, action, logp, adv, ret, bx, bmask, baction,
               blogp, badv, bret, logits, vpre, dlogits, dvpre, hs, us, pre, xh, rs, sums, n, clip_eps, vf_coef,
               ent_coef):
    """The rows phase of shard s of the minibatch perm[lo:lo+n]; `us` holds the layers' dys."""
    r0, r1 = cuts[s], cuts[s + 1]
    gather(bx[r0:r1], bmask[r0:r1], baction[r0:r1], blogp[r0:r1], badv[r0:r1], bret[r0:r1],
           perm[lo + r0:lo + r1], obs, mask, action, logp, adv, ret)
    fp = flush_enter()
    forward_at(params, spec, offs, bx, r0, r1 - r0, hs, us, pre, xh, rs, logits, vpre)
    ppo_head_rows(dlogits, dvpre, sums[s], logits, vpre, bmask, baction, blogp, badv, bret, r0, r1, n, clip_eps,
                  vf_coef, ent_coef)
    backward_inputs_at(us, params, spec, offs, r0, r1 - r0, hs, dlogits, dvpre)
    flush_exit(fp)


@njit(cache=True)
def _unit_grads(part, grad, partial, spec, offs, bx, n, hs, us, dlogits, dvpre):
    fp = flush_enter()
    partial[UNIT_STRIDE * part] = weight_grads_units(grad, part, spec, offs, bx, n, hs, us, dlogits, dvpre)
    flush_exit(fp)


@njit(cache=True, inline="always")
def _role_parts(role):
    """[first, last): the shards and unit parts a thread of `role` takes (0 or 1: its own; SOLO: both)."""
    return (1 if role == 1 else 0), (1 if role == 0 else UNIT_PARTS)


@njit(cache=True)
def unit_gradient(role, sync, phase, cuts, lo, perm, grad, partial, params, spec, offs, obs, mask, action, logp,
                  adv, ret, bx, bmask, baction, blogp, badv, bret, logits, vpre, dlogits, dvpre, hs, us, pre, xh,
                  rs, sums, clip_eps, vf_coef, ent_coef):
    """The rows and units phases of one unit-half step on the minibatch perm[lo:lo+n], n = cuts[-1], as
    this thread's share (`unit_epochs`), each followed by a `sync_point`; returns the next phase. After it
    grad holds the minibatch gradient and partial each part's sum of squares (`unit_norm`)."""
    first, last = _role_parts(role)
    n = cuts[cuts.shape[0] - 1]
    for s in range(first, min(last, cuts.shape[0] - 1)):
        _unit_rows(s, cuts, lo, perm, params, spec, offs, obs, mask, action, logp, adv, ret, bx, bmask, baction,
                   blogp, badv, bret, logits, vpre, dlogits, dvpre, hs, us, pre, xh, rs, sums, n, clip_eps,
                   vf_coef, ent_coef)
    phase = sync_point(sync, phase, role)
    for part in range(first, last):
        _unit_grads(part, grad, partial, spec, offs, bx, n, hs, us, dlogits, dvpre)
    return sync_point(sync, phase, role)


@njit(cache=True)
def unit_epochs(role, sync, params, m, v, t, grad, stats, obs, mask, action, logp, adv, ret, n, spec, offs,
                seed, iteration, epochs, batch_size, lr, clip_eps, vf_coef, ent_coef, max_grad_norm, bx, bmask,
                baction, blogp, badv, bret, logits, vpre, dlogits, dvpre, hs, us, pre, xh, rs, sums, partial):
    """mlp: all epochs of one iteration's update as this thread's share (module docstring); returns the Adam
    step count after it. role 0 or 1: shard and unit part `role` of every phase, in step with the other
    thread through `sync`; SOLO: both, one after the other (same values); IDLE: nothing.
    us: float32[L, rows, H], the layers' pre-activation gradients; sums: float64[UNIT_PARTS, 5];
    partial: float64[UNIT_PARTS * UNIT_STRIDE]; other arguments as `ppo_epochs`. Role 0 and SOLO write stats.
    """
    if role == IDLE:
        return t
    first, last = _role_parts(role)
    perm = np.empty(n, dtype=np.int64)
    bounds = minibatch_bounds(n, batch_size)
    k = bounds.shape[0] - 1
    head = np.empty(6, dtype=np.float64)
    pieces0 = unit_pieces(spec, offs, 0)
    pieces1 = unit_pieces(spec, offs, 1)
    phase = 0
    row = 0
    for e in range(epochs):
        permutation(perm, stream_key(seed, SHUFFLE, iteration, e))
        for b in range(k):
            lo = bounds[b]
            rows = bounds[b + 1] - lo
            cuts = shard_cuts(rows, UNIT_PARTS)
            phase = unit_gradient(role, sync, phase, cuts, lo, perm, grad, partial, params, spec, offs, obs, mask,
                                  action, logp, adv, ret, bx, bmask, baction, blogp, badv, bret, logits, vpre,
                                  dlogits, dvpre, hs, us, pre, xh, rs, sums, clip_eps, vf_coef, ent_coef)
            norm = unit_norm(partial)
            t += 1
            clip, scale, a, sc = adam_coefs(t, lr, max_grad_norm, norm)
            for part in range(first, last):
                adam_pieces(params, grad, m, v, pieces0 if part == 0 else pieces1, clip, scale, a, sc)
            if first == 0:
                head_stats(head, sums, cuts.shape[0] - 1, rows, vf_coef, ent_coef)
                _record_step(stats, row, head, norm, rows)
            row += 1
            phase = sync_point(sync, phase, role)  # every half updated before either thread reads them
    return t


# The mlp step's phases as separate parallel calls, for `numbaplay.profile.phases` to time apart; they
# compute what `unit_epochs` computes, bit for bit.
@njit(cache=True, parallel=True)
def unit_backward_shards(us, params, spec, offs, hs, dlogits, dvpre, cuts):
    """`backward_inputs_at` per shard [cuts[s], cuts[s+1]), shards in parallel, subnormals flushed."""
    for s in prange(cuts.shape[0] - 1):
        fp = flush_enter()
        backward_inputs_at(us, params, spec, offs, cuts[s], cuts[s + 1] - cuts[s], hs, dlogits, dvpre)
        flush_exit(fp)


@njit(cache=True, parallel=True)
def unit_grads_parts(grad, partial, spec, offs, bx, n, hs, us, dlogits, dvpre):
    """`weight_grads_units` for every unit part in parallel; partial[UNIT_STRIDE * part] its sum of squares."""
    for part in prange(UNIT_PARTS):
        _unit_grads(part, grad, partial, spec, offs, bx, n, hs, us, dlogits, dvpre)


@njit(cache=True)
def unit_norm(partial):
    """The gradient norm from the parts' sums of squares, added in part order."""
    total = 0.0
    for part in range(UNIT_PARTS):
        total += partial[UNIT_STRIDE * part]
    return math.sqrt(total)


@njit(cache=True, parallel=True)
def unit_adam_parts(params, grad, m, v, spec, offs, t, lr, max_grad_norm, norm):
    """Clip + Adam step t (`adam_coefs`) on every unit part's pieces (`unit_pieces`), parts in parallel."""
    clip, scale, a, sc = adam_coefs(t, lr, max_grad_norm, norm)
    for part in prange(UNIT_PARTS):
        adam_pieces(params, grad, m, v, unit_pieces(spec, offs, part), clip, scale, a, sc)


@njit(cache=True, parallel=prange_only())
def ppo_epochs_mlp(params, m, v, t, grads, stats, obs, mask, action, logp, adv, ret, n,
                   spec, offs, seed, iteration, epochs, batch_size, lr, clip_eps, vf_coef, ent_coef,
                   max_grad_norm, bx, bmask, baction, blogp, badv, bret, logits, vpre, dlogits, dvpre,
                   hs, us, pre, xh, rs, dh, dt, threads):
    """`ppo_epochs` for an mlp where `unit_halves`: `unit_epochs`, on two threads in one region when
    threads >= 2, with `us` as its per-layer gradient buffer (dh and dt unused)."""
    sums = np.zeros((UNIT_PARTS, 5), dtype=np.float64)
    partial = np.zeros(UNIT_PARTS * UNIT_STRIDE, dtype=np.float64)
    sync = np.zeros(SYNC_SIZE, dtype=np.int64)
    if threads < 2:
        return unit_epochs(SOLO, sync, params, m, v, t, grads[0], stats, obs, mask, action, logp, adv, ret,
                           n, spec, offs, seed, iteration, epochs, batch_size, lr, clip_eps, vf_coef,
                           ent_coef, max_grad_norm, bx, bmask, baction, blogp, badv, bret, logits, vpre,
                           dlogits, dvpre, hs, us, pre, xh, rs, sums, partial)
    t_out = np.full(1, t, dtype=np.int64)
    grad = grads[0]
    for _ in prange(2):
        role = pair_role(sync)
        t_end = unit_epochs(role, sync, params, m, v, t, grad, stats, obs, mask, action, logp, adv, ret, n,
                            spec, offs, seed, iteration, epochs, batch_size, lr, clip_eps, vf_coef, ent_coef,
                            max_grad_norm, bx, bmask, baction, blogp, badv, bret, logits, vpre, dlogits, dvpre,
                            hs, us, pre, xh, rs, sums, partial)
        if role == 0 or role == SOLO:
            t_out[0] = t_end
    return t_out[0]


# mlp takes the unit-half step while a minibatch's hidden activations (batch_size * hidden * depth floats)
# are at most this many times its parameter count: the units phase reads the other shard's activations
# from the other core, the row-shard step moves gradients and parameters instead. Measured update times,
# unit-half / row-shard, 2 threads: ttt-seed (ratio 0.32) 0.88, ttt-seed at batch 128 (0.63) 0.96 and at
# 256 (1.27) 0.97; tictactoe at batch 256 (2.7) 1.02 to 1.30, at 512 (5.3) 1.07, at 1024 (10.6) 1.07.
UNIT_ACTIVATION_RATIO = 2.0


def unit_halves(spec, batch_size) -> bool:
    """Whether the update runs the unit-half step (`ppo_epochs_mlp`) rather than row shards: mlp, and
    batch_size * hidden * depth <= UNIT_ACTIVATION_RATIO * n_params. Fixed by the configuration, so a
    run and its resumed continuation take the same step (`update_grad_norm` in the C reference too)."""
    net = NetSpec.from_array(spec)
    if net.arch != "mlp":
        return False
    return batch_size * net.hidden * net.depth <= UNIT_ACTIVATION_RATIO * n_params(net)


def shard_limit(spec, batch_size, update_shards) -> int:
    """The most row shards a minibatch step takes: UNIT_PARTS (two) in the unit-half step, else the
    configuration's `update_shards`."""
    return UNIT_PARTS if unit_halves(spec, batch_size) else update_shards


def epochs_kernel(spec, batch_size):
    """The compiled update for a configuration: `ppo_epochs_mlp` where `unit_halves`, else `ppo_epochs`
    (same arguments). Two kernels, so that a run compiles only its own (the cold start, issue 5)."""
    return ppo_epochs_mlp if unit_halves(spec, batch_size) else ppo_epochs


@njit(cache=True, parallel=prange_only())
def ppo_epochs(params, m, v, t, grads, stats, obs, mask, action, logp, adv, ret, n,
               spec, offs, seed, iteration, epochs, batch_size, lr, clip_eps, vf_coef, ent_coef,
               max_grad_norm, bx, bmask, baction, blogp, badv, bret, logits, vpre, dlogits, dvpre,
               hs, us, pre, xh, rs, dh, dt, threads):
    """All epochs of one iteration's update with row shards (resmlp, and mlp where not `unit_halves`);
    returns the Adam step count after it.

    params, m, v: float32[P] (updated); grads: float32[S, P] scratch, S the configuration's `update_shards`
    (the most shards a minibatch takes), grads[0] ends as the last step's gradient; t: Adam steps so far;
    out stats: float64[k_total, 8] per minibatch (STAT_NAMES); buffer: obs float32[N, obs], mask
    uint8[N, A], action int64[N], logp, adv (normalised), ret float32[N]; n = N; minibatch buffers sized
    for ceil(N / k) rows.
    threads: the Numba threads the call may use (`numba.get_num_threads()`, passed in: read inside a
    kernel it would stop Numba caching it); the row-shard regions take them from Numba themselves.
    """
    perm = np.empty(n, dtype=np.int64)
    bounds = minibatch_bounds(n, batch_size)
    k = bounds.shape[0] - 1
    head = np.empty(6, dtype=np.float64)
    sums = np.empty((grads.shape[0], 5), dtype=np.float64)
    row = 0
    for e in range(epochs):
        permutation(perm, stream_key(seed, SHUFFLE, iteration, e))
        for b in range(k):
            lo = bounds[b]
            rows = bounds[b + 1] - lo
            gather(bx, bmask, baction, blogp, badv, bret, perm[lo:lo + rows], obs, mask, action, logp,
                   adv, ret)
            cuts = shard_cuts(rows, grads.shape[0])
            shard_steps(cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits,
                        vpre, dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, clip_eps, vf_coef, ent_coef)
            head_stats(head, sums, cuts.shape[0] - 1, rows, vf_coef, ent_coef)
            t += 1
            norm = combine_grad_norm(grads, cuts.shape[0] - 1)
            adam_step(params, grads[0], m, v, t, lr, max_grad_norm, norm)
            _record_step(stats, row, head, norm, rows)
            row += 1
    return t
