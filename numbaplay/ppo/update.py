"""The PPO update of one iteration: epochs of shuffled minibatches (SPEC section 6).

Each minibatch step is four kernels: gather rows, forward, loss gradient at the heads plus backward,
clip + Adam. `ppo_epochs` runs them all in one compiled call; `numbaplay.profile.phases` times them apart.
"""
import numpy as np
from numba import njit

from numbaplay.nn.adam import clip_and_adam
from numbaplay.nn.net import backward, forward
from numbaplay.nn.policy import ppo_head_grads
from numbaplay.rng import SHUFFLE, permutation, stream_key

# Columns of the per-minibatch statistics array.
STAT_NAMES = ("policy", "value", "entropy", "approx_kl", "clip_frac", "total", "grad_norm", "rows")


@njit(cache=True)
def minibatch_bounds(n, batch_size):
    """int64[k+1] cut points of ceil(n / batch_size) batches, sizes differing by at most one, larger first."""
    k = (n + batch_size - 1) // batch_size
    if k < 1:
        k = 1
    base = n // k
    extra = n % k
    out = np.empty(k + 1, dtype=np.int64)
    out[0] = 0
    for i in range(k):
        out[i + 1] = out[i] + base + (1 if i < extra else 0)
    return out


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
def ppo_epochs(params, m, v, t, grad, stats, obs, mask, action, logp, adv, ret, n,
               spec, offs, seed, iteration, epochs, batch_size, lr, clip_eps, vf_coef, ent_coef,
               max_grad_norm, bx, bmask, baction, blogp, badv, bret, logits, vpre, dlogits, dvpre,
               hs, us, pre, xh, rs, dh, dt):
    """All epochs of one iteration's update; returns the Adam step count after it.

    params, m, v, grad: float32[P] (updated); t: Adam steps so far; out stats: float64[k_total, 8]
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
            forward(params, spec, offs, bx, rows, hs, us, pre, xh, rs, logits, vpre)
            ppo_head_grads(dlogits, dvpre, head, logits, vpre, bmask, baction, blogp, badv, bret, rows,
                           clip_eps, vf_coef, ent_coef)
            backward(grad, params, spec, offs, bx, rows, hs, us, pre, xh, rs, dlogits, dvpre, dh, dt)
            t += 1
            norm = clip_and_adam(params, grad, m, v, t, lr, max_grad_norm)
            for c in range(6):
                stats[row, c] = head[c]
            stats[row, 6] = norm
            stats[row, 7] = rows
            row += 1
    return t
