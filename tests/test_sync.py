"""Two threads in one parallel region (`numbaplay.nn.sync`): roles, barriers and the lone-thread fallback."""
import numba
import numpy as np
import pytest
from numba import njit, prange

from numbaplay.nn.sync import IDLE, SOLO, aligned_zeros, barrier, new_sync, pair_role


@njit(parallel=True)
def _exchange(sync, roles, slots, out, rounds):
    """Each round, role r writes slots[r]; after a barrier it reads the other's slot. Without the barrier
    a thread would read the other's value from an earlier round. A SOLO thread writes both, then reads."""
    for i in prange(2):
        role = pair_role(sync)
        roles[i] = role
        if role == IDLE:
            continue
        phase = 0
        for k in range(rounds):
            if role == SOLO:
                slots[0] = 2 * k
                slots[8] = 2 * k + 1
                out[0] += slots[8]
                out[8] += slots[0]
            else:
                slots[8 * role] = 2 * k + role
                phase = barrier(sync, phase)
                out[8 * role] += slots[8 * (1 - role)]
                phase = barrier(sync, phase)  # nobody overwrites a slot before the other read it


def _run(rounds):
    sync = new_sync()
    roles = np.full(2, -1, np.int64)
    slots = np.zeros(16, np.int64)
    out = np.zeros(16, np.int64)
    _exchange(sync, roles, slots, out, rounds)
    return sorted(roles.tolist()), out[0], out[8]


def test_two_threads_take_roles_0_and_1_and_see_each_others_writes():
    if numba.config.NUMBA_NUM_THREADS < 2 or numba.config.DISABLE_JIT:
        pytest.skip("needs 2 Numba threads")
    old = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        rounds = 20_000
        roles, got0, got1 = _run(rounds)
    finally:
        numba.set_num_threads(old)
    assert roles == [0, 1]
    assert got0 == sum(2 * k + 1 for k in range(rounds))  # role 0 read role 1's value of the same round
    assert got1 == sum(2 * k for k in range(rounds))


def test_a_lone_thread_does_all_the_work_and_the_late_one_none():
    """With one Numba thread the two iterations run one after the other: the first waits SPIN_LIMIT
    pauses, claims the work (SOLO), and the second, arriving after the claim, does nothing (IDLE)."""
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        roles, got0, got1 = _run(5)
    finally:
        numba.set_num_threads(old)
    assert roles == [SOLO, IDLE]
    assert (got0, got1) == (sum(2 * k + 1 for k in range(5)), sum(2 * k for k in range(5)))


def test_aligned_zeros_starts_on_a_cache_line():
    for shape, dtype in (((3, 1000), np.float32), ((7,), np.int64), ((2, 5, 9), np.float64)):
        a = aligned_zeros(shape, dtype)
        assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
        assert a.ctypes.data % 64 == 0 and not a.any()
