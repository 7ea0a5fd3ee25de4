"""Tic-Tac-Toe on 9-bit bitboards: bit c is cell c (row-major from the top-left).

State row (docs/ALGORITHM.md): [first player's bits, second player's bits, ply, status].
"""
import numpy as np
from numba import njit

N_CELLS = 9
N_ACTIONS = 9
MAX_PLIES = 9
# The first ply (0-based) whose move can end a game: the first player's third mark, the fifth move.
FIRST_ENDING_PLY = 4
FULL = 0x1FF
# Three rows, three columns, two diagonals.
LINES = np.array([0x7, 0x38, 0x1C0, 0x49, 0x92, 0x124, 0x111, 0x54], dtype=np.int64)


@njit(cache=True, inline="always")
def has_line(bits):
    """True if the stones in `bits` complete a row, column or diagonal."""
    for i in range(8):
        if bits & LINES[i] == LINES[i]:
            return True
    return False


@njit(cache=True, inline="always")
def is_legal(state, action):
    """True if `action` (a cell) is empty and the game is still on."""
    return state[3] == 0 and ((state[0] | state[1]) >> action) & 1 == 0


@njit(cache=True, inline="always")
def play(state, action):
    """Put the mover's stone on cell `action` and update ply and status (in place)."""
    mover = state[2] & 1
    state[mover] |= np.int64(1) << action
    state[2] += 1
    if has_line(state[mover]):
        state[3] = mover + 1
    elif state[2] == MAX_PLIES:
        state[3] = 3


@njit(cache=True, inline="always")
def observe(out, state):
    """Planar observation from the side to move. out: float32[18]."""
    mover = state[2] & 1
    mine = state[mover]
    theirs = state[1 - mover]
    for c in range(N_CELLS):
        out[c] = np.float32((mine >> c) & 1)
        out[N_CELLS + c] = np.float32((theirs >> c) & 1)
