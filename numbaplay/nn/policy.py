"""Masked policy (SPEC section 4) and the PPO loss gradient with respect to the heads (section 6).

Illegal actions are excluded by a branch, never by adding a large negative number: with fast-math,
`l + (1 - m) * -1e8` rounds every legal float32 logit to a multiple of 8. No function here is compiled
with fast-math.
"""
import numpy as np
from numba import njit

NEG_INF = np.float32(-np.inf)


@njit(cache=True, error_model="numpy", inline="always")
def _log_softmax(logp, p, logits, mask, keep_p):
    """`masked_log_softmax`, and if keep_p (a literal) p[a] = exp(logp[a]) (float32, 0 where illegal),
    the exponentials its entropy already computes."""
    n_act = logits.shape[0]
    zero = np.float32(0.0)
    m = NEG_INF
    for a in range(n_act):
        m = logits[a] if (mask[a] != 0 and logits[a] > m) else m
    s = zero
    for a in range(n_act):
        ea = np.exp(logits[a] - m)
        s += ea if mask[a] != 0 else zero
    z = np.log(s)
    ent = z
    for a in range(n_act):
        d = logits[a] - m
        lp = d - z
        legal = mask[a] != 0
        logp[a] = lp if legal else NEG_INF
        pa = np.exp(lp)
        if keep_p:
            p[a] = pa if legal else zero
        t = pa * d
        ent -= t if legal else zero
    return ent


@njit(cache=True, error_model="numpy")
def masked_log_softmax(logp, logits, mask):
    """logp[a] = log p_a over legal actions, -inf where illegal; returns the entropy (float32).

    logp: float32[A] (out); logits: float32[A]; mask: uint8[A] with at least one legal action.
    The mask enters through selects, not branches (a branch on a random mask mispredicts about half
    the time): illegal terms are computed and replaced by +0.0 before they are added, and adding +0.0
    changes no sum, so the result is that of summing over the legal actions alone.
    """
    return _log_softmax(logp, logp, logits, mask, False)


@njit(cache=True, error_model="numpy", inline="always")
def _tempered_exps(e, logits, mask, inv):
    """e[a] = exp(logits[a] / inv - m) (float32) on the legal actions and +0.0 on the others, m the largest
    legal logits[a] / inv; returns m. Selects, not branches (`masked_log_softmax`)."""
    n_act = logits.shape[0]
    m = NEG_INF
    for a in range(n_act):
        x = logits[a] / inv
        m = x if (mask[a] != 0 and x > m) else m
    for a in range(n_act):
        ea = np.exp(logits[a] / inv - m)
        e[a] = ea if mask[a] != 0 else np.float32(0.0)
    return m


@njit(cache=True, error_model="numpy", inline="always")
def _draw(e, mask, u):
    """The legal action whose cumulative float64 weight (index order) first exceeds u times the total, or
    the last legal action if none does (rounding). e: `_tempered_exps`' weights, +0.0 on illegal actions,
    which leave every partial sum as it is, so the first action past the target is a legal one."""
    n_act = mask.shape[0]
    total = 0.0
    for a in range(n_act):
        total += np.float64(e[a])
    target = u * total
    run = 0.0
    first = n_act
    last = -1
    for a in range(n_act):
        run += np.float64(e[a])
        last = a if mask[a] != 0 else last
        first = a if (first == n_act and target < run) else first
    return first if first < n_act else last


@njit(cache=True, error_model="numpy")
def sample_action(logits, mask, temperature, u, e):
    """Action drawn at `temperature` from masked logits with the uniform u (docs/ALGORITHM.md); e:
    float32[>=A] scratch, where each legal action's exponential is computed once for both passes.

    temperature 0 is the argmax of the legal logits, ties to the lowest index.
    """
    n_act = logits.shape[0]
    if temperature <= 0.0:
        best = -1
        for a in range(n_act):
            if mask[a] and (best < 0 or logits[a] > logits[best]):
                best = a
        return best
    _tempered_exps(e, logits, mask, np.float32(temperature))
    return _draw(e, mask, u)


@njit(cache=True, error_model="numpy")
def sample_action_logp(logits, mask, u, e):
    """(action, its log-probability) at temperature 1: `sample_action(logits, mask, 1.0, u, e)` and
    `masked_log_softmax`'s entry for that action, bit for bit, from one exponential per legal action
    (dividing by a temperature of 1 is exact, so the draw's weights are the softmax's terms)."""
    m = _tempered_exps(e, logits, mask, np.float32(1.0))
    a = _draw(e, mask, u)
    s = np.float32(0.0)
    for b in range(logits.shape[0]):
        s += e[b]  # +0.0 on illegal actions
    return a, (logits[a] - m) - np.log(s)


@njit(cache=True, error_model="numpy")
def ppo_head_rows(dlogits, dvpre, sums, logits, vpre, mask, action, logp_old, adv, ret, lo, hi, n,
                  clip_eps, vf_coef, ent_coef):
    """dL/dlogits and dL/dvpre on rows lo..hi-1 of a minibatch of n rows (SPEC section 6).

    out dlogits: float32[>=hi, A] (illegal entries exactly 0); out dvpre: float32[>=hi];
    out sums: float64[5] = sums over these rows, in row order, of (policy loss, value loss, entropy,
    approx KL, clipped); logits: float32[>=hi, A]; vpre: float32[>=hi]; mask: uint8[>=hi, A];
    action: int64[>=hi]; logp_old, adv, ret: float32[>=hi]. Rows are independent: any partition of the
    minibatch gives the same dlogits and dvpre.
    """
    n_act = logits.shape[1]
    inv_n = np.float32(1.0) / np.float32(n)
    c_lo = np.float32(1.0 - clip_eps)
    c_hi = np.float32(1.0 + clip_eps)
    vf = np.float32(vf_coef)
    ent_c = np.float32(ent_coef)
    logp = np.empty(n_act, dtype=np.float32)
    prob = np.empty(n_act, dtype=np.float32)
    s_pol = 0.0
    s_val = 0.0
    s_ent = 0.0
    s_kl = 0.0
    s_clip = 0.0
    for i in range(lo, hi):
        ent = _log_softmax(logp, prob, logits[i], mask[i], True)
        act = action[i]
        d = logp[act] - logp_old[i]
        r = np.exp(d)
        a_i = adv[i]
        rc = min(max(r, c_lo), c_hi)
        s_pol += -min(np.float64(r) * a_i, np.float64(rc) * a_i)
        s_kl += np.float64(r - np.float32(1.0)) - np.float64(d)
        if abs(r - np.float32(1.0)) > clip_eps:
            s_clip += 1.0
        s_ent += ent
        # Policy term: dL/dr = -A/n where the unclipped branch is active.
        g_r = np.float32(0.0)
        if (a_i >= 0 and r < c_hi) or (a_i < 0 and r > c_lo):
            g_r = -a_i * inv_n
        g_rr = g_r * r
        for b in range(n_act):  # selects, not branches (`masked_log_softmax`); illegal entries exactly 0
            p = prob[b]  # exp(logp[b]), kept by the softmax
            g = -g_rr * p + ent_c * inv_n * p * (logp[b] + ent)
            g = g + g_rr if b == act else g
            dlogits[i, b] = g if mask[i, b] != 0 else np.float32(0.0)
        v = np.tanh(vpre[i])
        err = v - ret[i]
        s_val += np.float64(err) * np.float64(err)
        dvpre[i] = vf * np.float32(2.0) * err * inv_n * (np.float32(1.0) - v * v)
    sums[0] = s_pol
    sums[1] = s_val
    sums[2] = s_ent
    sums[3] = s_kl
    sums[4] = s_clip


@njit(cache=True, error_model="numpy")
def head_stats(stats, sums, k, n, vf_coef, ent_coef):
    """stats float64[6]: minibatch means from the k partial sums sums[0..k-1] (float64[>=k, 5]), added in
    order: (policy loss, value loss, entropy, approx KL, clip fraction, total loss)."""
    for c in range(5):
        t = sums[0, c]
        for s in range(1, k):
            t += sums[s, c]
        stats[c] = t / n
    stats[5] = stats[0] + vf_coef * stats[1] - ent_coef * stats[2]


@njit(cache=True, error_model="numpy")
def ppo_head_grads(dlogits, dvpre, stats, logits, vpre, mask, action, logp_old, adv, ret, n,
                   clip_eps, vf_coef, ent_coef):
    """Loss terms and dL/dlogits, dL/dvpre for one minibatch of n rows (SPEC section 6).

    out stats: float64[6] = sums over rows (in row order) of (policy loss, value loss, entropy, approx
    KL, clipped) divided by n, i.e. minibatch means, and the total loss; other arguments as
    `ppo_head_rows` with lo = 0, hi = n.
    """
    sums = np.empty((1, 5), dtype=np.float64)
    ppo_head_rows(dlogits, dvpre, sums[0], logits, vpre, mask, action, logp_old, adv, ret, 0, n, n,
                  clip_eps, vf_coef, ent_coef)
    head_stats(stats, sums, 1, n, vf_coef, ent_coef)
