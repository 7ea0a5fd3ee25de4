"""Generalised advantage estimation per game, and advantage normalisation (SPEC sections 5, 6).

The buffer is game-major, so a game's transitions are contiguous and `done = 1` marks its last one.
There the t+1 terms are dropped by a branch: A_t = r_t - V_t. Elsewhere
delta_t = r_t + gamma V_{t+1} - V_t and A_t = delta_t + gamma lambda A_{t+1}. Returns R_t = A_t + V_t.
"""
import math

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def gae(adv, ret, reward, value, done, n, gamma, lam):
    """out adv, ret: float32[>=n]; reward, value: float32[>=n]; done: uint8[>=n]; float32 arithmetic."""
    g = np.float32(gamma)
    gl = np.float32(gamma) * np.float32(lam)
    next_adv = np.float32(0.0)
    for t in range(n - 1, -1, -1):
        if done[t]:
            a = reward[t] - value[t]
        else:
            delta = reward[t] + g * value[t + 1] - value[t]
            a = delta + gl * next_adv
        adv[t] = a
        ret[t] = a + value[t]
        next_adv = a


@njit(cache=True, error_model="numpy")
def normalize(out, adv, n):
    """out = (adv - mean) / (std + 1e-8), mean and population std in float64 in buffer order."""
    if n < 2:
        for i in range(n):
            out[i] = 0.0
        return
    s = 0.0
    for i in range(n):
        s += np.float64(adv[i])
    mean = s / n
    q = 0.0
    for i in range(n):
        d = np.float64(adv[i]) - mean
        q += d * d
    std = math.sqrt(q / n)
    for i in range(n):
        out[i] = np.float32((np.float64(adv[i]) - mean) / (std + 1e-8))
