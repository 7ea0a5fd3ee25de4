"""The PPO update of one iteration: epochs of shuffled minibatches (SPEC section 6).

Each minibatch step is four kernels: gather rows, forward, loss gradient at the heads plus backward,
clip + Adam. The minibatch is cut into at most two shards (`numbaplay.nn.rows.shard_cuts`, fixed by its
row count): forward and backward run the shards on the Numba threads, each into its own gradient buffer,
and the shard gradients are summed in shard order. `ppo_epochs` runs it all in one compiled call;
`numbaplay.profile.phases` times the kernels apart.
"""
import numpy as np
from numba import njit

from numbaplay.nn.adam import adam_step, combine_grad_norm
from numbaplay.nn.net import backward_shards, forward_pieces
from numbaplay.nn.policy import ppo_head_grads
from numbaplay.nn.rows import even_cuts, shard_cuts
from numbaplay.rng import SHUFFLE, permutation, stream_key

# Columns of the per-minibatch statistics array.
STAT_NAMES = ("policy", "value", "entropy", "approx_kl", "clip_frac", "total", "grad_norm", "rows")


@njit(cache=True)
def minibatch_bounds(n, batch_size):
    """int64[k+1] cut points of ceil(n / batch_size) batches, sizes differing by at most one, larger first."""
    return even_cuts(n, (n + batch_size - 1) // batch_size)


@njit(cache=True)
def gather(bx, bmask, baction, blogp, badv, bret, idx, obs, mask, action, logp, adv, ret):
    """Copy the rows idx of the transition buffer into minibatch buffers (first len(idx) rows)."""
    for r in range(idx.shape[0]):
        i = idx[r]
        bx[r, :] = obs[i]
        bmask[r, :] = mask[i]
        baction[r] = action[i]
        blogp[r] = logp[i]
        badv[r] = adv[i]
        bret[r] = ret[i]


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
    row = 0
    for e in range(epochs):
        permutation(perm, stream_key(seed, SHUFFLE, iteration, e))
        for b in range(k):
            lo = bounds[b]
            rows = bounds[b + 1] - lo
            gather(bx, bmask, baction, blogp, badv, bret, perm[lo:lo + rows], obs, mask, action, logp,
                   adv, ret)
            cuts = shard_cuts(rows)
            forward_pieces(params, spec, offs, bx, hs, us, pre, xh, rs, logits, vpre, cuts)
            ppo_head_grads(dlogits, dvpre, head, logits, vpre, bmask, baction, blogp, badv, bret, rows,
                           clip_eps, vf_coef, ent_coef)
            backward_shards(grads, params, spec, offs, bx, hs, us, pre, xh, rs, dlogits, dvpre, dh, dt, cuts)
            t += 1
            norm = combine_grad_norm(grads, cuts.shape[0] - 1)
            adam_step(params, grads[0], m, v, t, lr, max_grad_norm, norm)
            for c in range(6):
                stats[row, c] = head[c]
            stats[row, 6] = norm
            stats[row, 7] = rows
            row += 1
    return t
