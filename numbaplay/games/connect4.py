"""Connect Four on bitboards (7 columns x 6 rows): bit col*7 + row, row 0 the bottom.

Each column has a seventh, never-set sentinel bit, so shifting a bitboard by 1, 6, 7 or 8 finds
vertical, diagonal, horizontal and anti-diagonal neighbours without wrapping between columns.
State row (docs/ALGORITHM.md): [first player's bits, second player's bits, ply, status].
"""
import numpy as np
from numba import njit

WIDTH = 7
HEIGHT = 6
N_CELLS = 42
N_ACTIONS = 7
MAX_PLIES = 42
# The first ply (0-based) whose move can end a game: the first player's fourth disc, the seventh move.
FIRST_ENDING_PLY = 6


@njit(cache=True, inline="always")
def has_four(bits):
    """True if `bits` holds four in a row in any of the four directions."""
    for shift in (1, 7, 6, 8):
        pairs = bits & (bits >> shift)
        if pairs & (pairs >> (2 * shift)):
            return True
    return False


@njit(cache=True, inline="always")
def is_legal(state, action):
    """True if column `action` has room and the game is still on."""
    top = np.int64(1) << (action * 7 + HEIGHT - 1)
    return state[3] == 0 and ((state[0] | state[1]) & top) == 0


@njit(cache=True, inline="always")
def play(state, action):
    """Drop the mover's stone into column `action` and update ply and status (in place)."""
    mover = state[2] & 1
    occupied = state[0] | state[1]
    column = np.int64(0x3F) << (action * 7)
    bottom = np.int64(1) << (action * 7)
    state[mover] |= (occupied + bottom) & column
    state[2] += 1
    if has_four(state[mover]):
        state[3] = mover + 1
    elif state[2] == MAX_PLIES:
        state[3] = 3


@njit(cache=True, inline="always")
def observe(out, state):
    """Planar observation from the side to move; cell index row*7 + col. out: float32[84]."""
    mover = state[2] & 1
    mine = state[mover]
    theirs = state[1 - mover]
    for col in range(WIDTH):
        for row in range(HEIGHT):
            bit = col * 7 + row
            cell = row * WIDTH + col
            out[cell] = np.float32((mine >> bit) & 1)
            out[N_CELLS + cell] = np.float32((theirs >> bit) & 1)
