"""Work cut into pieces fixed by the row or index count, never by the thread count (SPEC section 5).

Every piece is a separate call (one GEMM per piece of rows, one partial sum per chunk of parameters), and
partial results are combined in piece order, so output is identical for any number of Numba threads.
"""
import numpy as np
from numba import njit

# Rollout inference: batches cut into pieces of about this many rows (a GEMM per piece). Smaller pieces
# balance threads better, but BLAS spends more of each call packing the weights (128 measured faster than 64
# and 96 on ttt-seed and c4-seed rollouts).
INFER_ROWS = 128
# The update splits a minibatch into at most `update_shards` shards (a configuration key, 2 by default),
# each with its own gradient buffer, and only when every shard gets at least SHARD_MIN_ROWS rows. Shards
# cost a pass over P per extra shard. 24, not 32: minibatches are cut evenly, so a batch_size of 64 gives
# batches of 63 rows as well as 64, and with 32 those ran as one shard on one thread (ttt-seed: up to 20 of
# 31 steps an epoch).
SHARD_MIN_ROWS = 24
# The gradient norm and Adam run over the flat parameter vector in chunks of this many entries.
PARAM_CHUNK = 4096
# The mlp update computes weight gradients, the norm and Adam per half of each layer's units
# (`unit_cuts`), over all rows of the minibatch; the halves stay the same for any thread count.
UNIT_PARTS = 2


@njit(cache=True, inline="always")
def copy_row(dst, src):
    """dst[j] = src[j] for every j of dst (1-D arrays). Kernels copy rows with this, not `dst[:] = src`:
    slice assignment from an array makes Numba compile its shape-mismatch message (str, join, unicode)
    into every kernel that contains it, several seconds of a cold start."""
    for j in range(dst.shape[0]):
        dst[j] = src[j]


@njit(cache=True)
def even_cuts(n, k):
    """int64[k+1] cut points of n rows into k pieces whose sizes differ by at most one, larger first."""
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
def inference_pieces(n):
    """How many pieces a rollout batch of n rows runs as: ceil(n / INFER_ROWS)."""
    return (n + INFER_ROWS - 1) // INFER_ROWS


@njit(cache=True)
def inference_cuts(n):
    """Cut points of a rollout batch of n rows into `inference_pieces(n)` pieces."""
    return even_cuts(n, inference_pieces(n))


# `job_cuts` prices a piece at its rows plus this many: a call's fixed cost (BLAS packs each weight matrix
# once per call) in rows' worth of work.
PIECE_COST_ROWS = 16


@njit(cache=True)
def job_cuts(lo, hi, n_jobs):
    """int64[n_jobs + 1] cut points of the pieces [lo[p], hi[p]) into n_jobs contiguous runs of about equal
    cost (rows + PIECE_COST_ROWS each): run j is pieces cuts[j]..cuts[j+1]-1. A `prange` over the runs gives
    each thread one of them when n_jobs is the thread count, where Numba's even split of the pieces would
    give one thread a piece more (1137 against 911 rows at tictactoe's first step). Pieces themselves
    never depend on n_jobs, so neither does any output."""
    k = lo.shape[0]
    m = max(n_jobs, 1)
    out = np.empty(m + 1, dtype=np.int64)
    total = 0
    for p in range(k):
        total += hi[p] - lo[p] + PIECE_COST_ROWS
    out[0] = 0
    p = 0
    done = 0
    for j in range(1, m):
        target = total * j // m
        while p < k:  # take piece p unless stopping before it leaves the run nearer its target
            c = hi[p] - lo[p] + PIECE_COST_ROWS
            if done + c > target and target - done <= done + c - target:
                break
            done += c
            p += 1
        out[j] = p
    out[m] = k
    return out


@njit(cache=True)
def shard_cuts(n, shards):
    """Shards of an update minibatch of n rows: min(shards, n // SHARD_MIN_ROWS), at least one."""
    k = n // SHARD_MIN_ROWS
    return even_cuts(n, min(max(k, 1), shards))


@njit(cache=True)
def unit_cuts(hid):
    """Cut points of a hidden layer's hid units into UNIT_PARTS parts (sizes differ by at most one)."""
    return even_cuts(hid, UNIT_PARTS)


@njit(cache=True)
def n_param_chunks(p):
    return (p + PARAM_CHUNK - 1) // PARAM_CHUNK
