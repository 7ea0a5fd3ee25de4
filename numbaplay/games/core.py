"""The game interface: a `Game` record, kernels that dispatch on its id, and position notation.

Position notation (SPEC section 1): the 1-based move digits played from the empty board.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from numbaplay.errors import ConfigError, PositionError
from numbaplay.games import connect4 as c4
from numbaplay.games import tictactoe as ttt
from numbaplay.omp import launch_threads

launch_threads()  # before any cached kernel loads (numbaplay/omp.py)

TICTACTOE = 0
CONNECT4 = 1
STATE_SIZE = 4  # [first player's bits, second player's bits, ply, status]
ONGOING, FIRST_WON, SECOND_WON, DRAW = 0, 1, 2, 3


@dataclass(frozen=True)
class Game:
    """What the trainer and evaluators need to know about a game."""

    name: str
    gid: int
    n_cells: int
    n_actions: int
    max_plies: int

    @property
    def obs_size(self) -> int:
        """Two planes of n_cells (SPEC section 2)."""
        return 2 * self.n_cells

    @property
    def max_learner_moves(self) -> int:
        """The most moves one seat makes in a game."""
        return (self.max_plies + 1) // 2

    def new_states(self, n: int) -> np.ndarray:
        """n empty positions, int64[n, 4]."""
        return np.zeros((n, STATE_SIZE), dtype=np.int64)


GAMES = {
    "tictactoe": Game("tictactoe", TICTACTOE, ttt.N_CELLS, ttt.N_ACTIONS, ttt.MAX_PLIES),
    "connect4": Game("connect4", CONNECT4, c4.N_CELLS, c4.N_ACTIONS, c4.MAX_PLIES),
}


def get_game(name: str) -> Game:
    """The game called `name`; ConfigError naming the known games otherwise."""
    try:
        return GAMES[name]
    except KeyError:
        raise ConfigError(f"unknown game {name!r}; choose one of {', '.join(GAMES)}") from None


@njit(cache=True)
def is_legal(gid, state, action):
    """True if `action` is legal in `state` (int64[4])."""
    if action < 0:
        return False
    if gid == TICTACTOE:
        return action < ttt.N_ACTIONS and ttt.is_legal(state, action)
    return action < c4.N_ACTIONS and c4.is_legal(state, action)


@njit(cache=True, inline="always")
def may_end(gid, state):
    """False where no move from `state` can end the game: fewer plies played than the game's first
    ending ply (a win needs that many moves, and neither board fills sooner)."""
    return state[2] >= (ttt.FIRST_ENDING_PLY if gid == TICTACTOE else c4.FIRST_ENDING_PLY)


@njit(cache=True)
def play(gid, state, action):
    """Apply a legal `action` to `state` in place."""
    if gid == TICTACTOE:
        ttt.play(state, action)
    else:
        c4.play(state, action)


@njit(cache=True)
def legal_mask(gid, out, state):
    """out: uint8[A], 1 where legal; all 0 at a terminal position."""
    for a in range(out.shape[0]):
        out[a] = 1 if is_legal(gid, state, a) else 0


@njit(cache=True)
def observe(gid, out, state):
    """out: float32[obs_size], planar from the side to move (SPEC section 2)."""
    if gid == TICTACTOE:
        ttt.observe(out, state)
    else:
        c4.observe(out, state)


@njit(cache=True, parallel=True)
def legal_masks(gid, out, states):
    """Batched legal_mask. out: uint8[G, A]; states: int64[G, 4]."""
    for g in prange(states.shape[0]):
        legal_mask(gid, out[g], states[g])


@njit(cache=True, parallel=True)
def observations(gid, out, states):
    """Batched observe. out: float32[G, obs_size]; states: int64[G, 4]."""
    for g in prange(states.shape[0]):
        observe(gid, out[g], states[g])


@njit(cache=True)
def replay(gid, masks, obs, status, moves, n_moves):
    """Replay one move list, recording what the network would see after every ply.

    masks: uint8[n_moves+1, A]; obs: float32[n_moves+1, obs_size]; status: int64[n_moves+1];
    moves: int64[>= n_moves]. Returns the number of plies played (stops early at an illegal move).
    """
    state = np.zeros(STATE_SIZE, dtype=np.int64)
    for p in range(n_moves + 1):
        legal_mask(gid, masks[p], state)
        observe(gid, obs[p], state)
        status[p] = state[3]
        if p == n_moves:
            break
        if not is_legal(gid, state, moves[p]):
            return p
        play(gid, state, moves[p])
    return n_moves


def parse_position(game: Game, text: str) -> np.ndarray:
    """The state (int64[4]) reached by the moves in `text`; PositionError naming the bad move."""
    state = np.zeros(STATE_SIZE, dtype=np.int64)
    for ply, ch in enumerate(text, start=1):
        if not ("1" <= ch <= "9") or int(ch) > game.n_actions:
            raise PositionError(
                f"position {text!r}: {ch!r} at ply {ply} is not a move of {game.name} "
                f"(use digits 1..{game.n_actions})")
        action = int(ch) - 1
        if state[3] != ONGOING:
            raise PositionError(f"position {text!r}: move {ch!r} at ply {ply} comes after the game ended")
        if not is_legal(game.gid, state, action):
            what = "cell is occupied" if game.gid == TICTACTOE else "column is full"
            raise PositionError(f"position {text!r}: move {ch!r} at ply {ply} is illegal ({what})")
        play(game.gid, state, action)
    return state


def position_string(moves) -> str:
    """SPEC section 1 notation of a sequence of 0-based actions."""
    return "".join(str(int(a) + 1) for a in moves)
