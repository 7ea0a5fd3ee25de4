"""The PPO update of one iteration: epochs of shuffled minibatches (SPEC section 6).

Each minibatch step: gather its rows; cut it into at most two shards (`numbaplay.nn.rows.shard_cuts`,
fixed by its row count); on the Numba threads, each shard runs forward, the loss gradient at the heads
(`ppo_head_rows`, with the loss statistics summed per shard) and backward into its own gradient buffer
(`shard_steps`); then the shard gradients are summed in shard order with the gradient norm, and clip +
Adam. Every piece runs with subnormals flushed to zero (`numbaplay.nn.fpenv`). `ppo_epochs` runs it all
in one compiled call; `numbaplay.profile.phases` times the pieces apart.
"""
import numpy as np
from numba import njit, prange

from numbaplay.nn.adam import adam_step, combine_grad_norm
from numbaplay.nn.fpenv import flush_enter, flush_exit
from numbaplay.nn.net import backward_at, forward_at
from numbaplay.nn.policy import head_stats, ppo_head_rows
from numbaplay.nn.rows import MAX_SHARDS, copy_row, even_cuts, shard_cuts
from numbaplay.rng import SHUFFLE, permutation, stream_key

# Columns of the per-minibatch statistics array.
STAT_NAMES = ("policy", "value", "entropy", "approx_kl", "clip_frac", "total", "grad_norm", "rows")


@njit(cache=True)
def minibatch_bounds(n, batch_size):
    """int64[k+1] cut points of ceil(n / batch_size) batches, sizes differing by at most one, larger first."""
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


@njit(cache=True, parallel=True)
def _shard_steps_par(cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits, vpre,
                     dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, n, clip_eps, vf_coef, ent_coef):
    for s in prange(cuts.shape[0] - 1):
        _shard_step(s, cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits, vpre,
                    dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, n, clip_eps, vf_coef, ent_coef)


@njit(cache=True, inline="always")
def shard_steps(cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits, vpre,
                dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, clip_eps, vf_coef, ent_coef):
    """Forward, head gradients and backward of each shard [cuts[s], cuts[s+1]) of a minibatch of
    n = cuts[-1] rows, shards in parallel: gradient into grads[s], loss sums into sums[s] (float64[5])."""
    n = cuts[cuts.shape[0] - 1]
    if cuts.shape[0] == 2:  # one shard: no parallel region
        _shard_step(0, cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits, vpre,
                    dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, n, clip_eps, vf_coef, ent_coef)
    else:
        _shard_steps_par(cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits,
                         vpre, dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, n, clip_eps, vf_coef, ent_coef)


@njit(cache=True)
def ppo_epochs(params, m, v, t, grads, stats, obs, mask, action, logp, adv, ret, n,
               spec, offs, seed, iteration, epochs, batch_size, lr, clip_eps, vf_coef, ent_coef,
               max_grad_norm, bx, bmask, baction, blogp, badv, bret, logits, vpre, dlogits, dvpre,
               hs, us, pre, xh, rs, dh, dt):
    """All epochs of one iteration's update; returns the Adam step count after it.

    params, m, v: float32[P] (updated); grads: float32[MAX_SHARDS, P] scratch, grads[0] ends as the last
    step's gradient; t: Adam steps so far; out stats: float64[k_total, 8]
    per minibatch (STAT_NAMES); buffer: obs float32[N, obs], mask uint8[N, A], action int64[N],
    logp, adv (normalised), ret float32[N]; n = N; minibatch buffers sized for ceil(N / k) rows.
    """
    perm = np.empty(n, dtype=np.int64)
    bounds = minibatch_bounds(n, batch_size)
    k = bounds.shape[0] - 1
    head = np.empty(6, dtype=np.float64)
    sums = np.empty((MAX_SHARDS, 5), dtype=np.float64)
    row = 0
    for e in range(epochs):
        permutation(perm, stream_key(seed, SHUFFLE, iteration, e))
        for b in range(k):
            lo = bounds[b]
            rows = bounds[b + 1] - lo
            gather(bx, bmask, baction, blogp, badv, bret, perm[lo:lo + rows], obs, mask, action, logp,
                   adv, ret)
            cuts = shard_cuts(rows)
            shard_steps(cuts, grads, sums, params, spec, offs, bx, bmask, baction, blogp, badv, bret, logits,
                        vpre, dlogits, dvpre, hs, us, pre, xh, rs, dh, dt, clip_eps, vf_coef, ent_coef)
            head_stats(head, sums, cuts.shape[0] - 1, rows, vf_coef, ent_coef)
            t += 1
            norm = combine_grad_norm(grads, cuts.shape[0] - 1)
            adam_step(params, grads[0], m, v, t, lr, max_grad_norm, norm)
            for c in range(6):
                stats[row, c] = head[c]
            stats[row, 6] = norm
            stats[row, 7] = rows
            row += 1
    return t
