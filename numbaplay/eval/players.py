"""Reference Connect Four players for the Elo ladder (SPEC section 7), as Numba kernels over state rows.

Every player answers one question for a batch of positions: which column does it play? Positions are
the `int64[4]` rows of docs/ALGORITHM.md (first player's bits, second player's bits, ply, status; bit
`col * 7 + row`, row 0 the bottom).

- `random`: uniform over the legal columns; draw `ply` of the stream
  `stream_key(seed, EVAL, game_index, 0)` (SPEC section 5), the k-th legal column in index order with
  `k = key_below(key, ply, n_legal)`.
- `heuristic` (deterministic): win at once if it can, else block a column where the opponent would win
  at once, else play the centre-most legal column; every choice scans the columns in the order
  3, 2, 4, 1, 5, 0, 6 (centre first, ties to the lower column).
- `ab1` .. `ab8`: depth-limited negamax with alpha-beta pruning, moves searched in the same centre-first
  order and the first of equally scored root moves kept (so ties go toward the centre, then the lower
  column). Scores are from the side to move:
    * a win scores `WIN_SCORE - n`, n the number of stones on the board once the winning stone is
      played (sooner wins score higher, later losses score less badly); a full board scores 0;
    * a side to move that can complete four with its next stone is scored as that win, even at the
      search horizon (one free ply of tactical look-ahead);
    * at the horizon, `evaluate(mine, theirs)` sums over the 69 windows of four cells: +2 for a window
      with exactly two of the mover's stones and no opponent stone, +5 for three; the same with the
      sign flipped for the opponent's windows; plus 3 per own stone in the centre column minus 3 per
      opponent stone there. (The weights follow the usual Connect Four tutorial heuristic; they only
      need to make deeper search stronger, which `tests/test_ladder.py` checks.)
- `perfect`: Pascal Pons' solver (`numbaplay.eval.solver`), playing the column of the best exact score
  (fastest win, slowest loss; ties centre-first) once the board holds at least `PERFECT_MIN_PLY`
  stones, and playing as `ab8` before that. Solving from the first plies costs seconds to minutes per
  move in this solver, and the ladder needs thousands of moves: measured on one core when the ladder
  was built (every column solved exactly, `Solver.analyze`), a 98-game match against `ab8` took about
  40 s with the solver from ply 12 (some 1,300 solved positions), 110 s from ply 10 and 435 s from
  ply 8. Ply 12 kept the whole ladder build under ten minutes. So `perfect` is exact from ply 12 on
  only: it is the strongest reference player, not a proof of optimal play from the opening. The same
  column now comes from one exact solve of the position and a null-window test per column
  (`Solver.best_column`), the positions of a batch searched in parallel (`SolverPool`).

Searchers and `perfect` keep the moves they have found, by position (see `KernelPlayer`): a move is a
function of the position, so a repeated position is looked up, never searched again. Evaluations during
training meet the same openings at every evaluation; `benchmarks/bench_train_eval.py` measures what
this saves (`results/bench/train_eval_connect4.json`).

An agent plays greedily: the argmax of its legal logits, ties to the lowest column, one forward pass per
ply for every game that waits for its move (`AgentPlayer`).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from numbaplay.errors import ConfigError
from numbaplay.games.connect4 import has_four
from numbaplay.games.core import CONNECT4, legal_masks, observations
from numbaplay.omp import launch_threads
from numbaplay.rng import EVAL, key_below, stream_key

launch_threads()  # before any cached kernel loads (numbaplay/omp.py)

WIDTH = 7
HEIGHT = 6
CELLS = 42
WIN_SCORE = 1_000_000
MAX_DEPTH = 8
PERFECT_MIN_PLY = 12
MAX_SOLVER_WORKERS = 8  # `perfect` searches with one table per Numba thread, up to this many (32 MB each)
PERFECT_BEFORE = "ab8"

# Evaluation weights (see the module docstring).
W_TWO = 2
W_THREE = 5
W_CENTRE = 3

KIND_RANDOM = 0
KIND_HEURISTIC = 1
KIND_ALPHABETA = 2

COLUMN_ORDER = np.array([3, 2, 4, 1, 5, 0, 6], dtype=np.int64)  # centre first, ties to the lower column
_CENTRE_MASK = np.int64(0x3F << (3 * 7))


def _windows() -> np.ndarray:
    """int64[69]: the bitmasks of every horizontal, vertical and diagonal line of four cells."""
    out = []
    for col in range(WIDTH):
        for row in range(HEIGHT):
            for dc, dr in ((1, 0), (0, 1), (1, 1), (1, -1)):
                cells = [(col + k * dc, row + k * dr) for k in range(4)]
                if all(0 <= c < WIDTH and 0 <= r < HEIGHT for c, r in cells):
                    out.append(sum(1 << (c * 7 + r) for c, r in cells))
    return np.array(out, dtype=np.int64)


WINDOWS = _windows()


@njit(cache=True, inline="always")
def _bits4(x):
    """Number of set bits of x (at most 4 here: a window)."""
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n


@njit(cache=True, inline="always")
def _drop(occupied, col):
    """The cell a stone dropped into column `col` lands on; 0 if the column is full."""
    column = np.int64(0x3F) << (col * 7)
    return (occupied + (np.int64(1) << (col * 7))) & column


@njit(cache=True)
def evaluate(mine, theirs):
    """Static score of a position for the side owning `mine` (see the module docstring)."""
    score = 0
    for i in range(WINDOWS.shape[0]):
        w = WINDOWS[i]
        m = _bits4(mine & w)
        t = _bits4(theirs & w)
        if t == 0:
            if m == 2:
                score += W_TWO
            elif m == 3:
                score += W_THREE
        elif m == 0:
            if t == 2:
                score -= W_TWO
            elif t == 3:
                score -= W_THREE
    score += W_CENTRE * (_bits4(mine & _CENTRE_MASK) - _bits4(theirs & _CENTRE_MASK))
    return score


@njit(cache=True)
def negamax(mine, theirs, ply, depth, alpha, beta):
    """Fail-soft alpha-beta score of a position whose last move did not win, for the side to move.

    mine, theirs: bitboards of the side to move and of its opponent; ply: stones on the board.
    """
    if ply >= CELLS:
        return 0
    occupied = mine | theirs
    for i in range(WIDTH):
        cell = _drop(occupied, COLUMN_ORDER[i])
        if cell != 0 and has_four(mine | cell):
            return WIN_SCORE - (ply + 1)
    if depth <= 0:
        return evaluate(mine, theirs)
    best = -2 * WIN_SCORE
    for i in range(WIDTH):
        cell = _drop(occupied, COLUMN_ORDER[i])
        if cell == 0:
            continue
        score = -negamax(theirs, mine | cell, ply + 1, depth - 1, -beta, -alpha)
        if score > best:
            best = score
            if best > alpha:
                alpha = best
                if alpha >= beta:
                    break
    return best


@njit(cache=True)
def alphabeta_move(state, depth):
    """Column chosen by the depth-`depth` searcher in `state` (int64[4], game not over)."""
    mover = state[2] & 1
    mine = state[mover]
    theirs = state[1 - mover]
    ply = state[2]
    occupied = mine | theirs
    for i in range(WIDTH):
        col = COLUMN_ORDER[i]
        cell = _drop(occupied, col)
        if cell != 0 and has_four(mine | cell):
            return col
    best_move = -1
    best = -4 * WIN_SCORE
    alpha = -2 * WIN_SCORE
    beta = 2 * WIN_SCORE
    for i in range(WIDTH):
        col = COLUMN_ORDER[i]
        cell = _drop(occupied, col)
        if cell == 0:
            continue
        score = -negamax(theirs, mine | cell, ply + 1, depth - 1, -beta, -alpha)
        if score > best:  # strict: the first (centre-most) of equal scores stays
            best = score
            best_move = col
            if score > alpha:
                alpha = score
    return best_move


@njit(cache=True)
def heuristic_move(state):
    """Win now, else block the opponent's immediate win, else the centre-most legal column."""
    mover = state[2] & 1
    mine = state[mover]
    theirs = state[1 - mover]
    occupied = mine | theirs
    for i in range(WIDTH):
        cell = _drop(occupied, COLUMN_ORDER[i])
        if cell != 0 and has_four(mine | cell):
            return COLUMN_ORDER[i]
    for i in range(WIDTH):
        cell = _drop(occupied, COLUMN_ORDER[i])
        if cell != 0 and has_four(theirs | cell):
            return COLUMN_ORDER[i]
    for i in range(WIDTH):
        if _drop(occupied, COLUMN_ORDER[i]) != 0:
            return COLUMN_ORDER[i]
    return -1


@njit(cache=True)
def random_move(state, key):
    """Uniform legal column from draw `ply` of the stream `key` (k-th legal column in index order)."""
    occupied = state[0] | state[1]
    n_legal = 0
    for col in range(WIDTH):
        if _drop(occupied, col) != 0:
            n_legal += 1
    k = key_below(key, state[2], n_legal)
    for col in range(WIDTH):
        if _drop(occupied, col) != 0:
            if k == 0:
                return col
            k -= 1
    return -1


@njit(cache=True, parallel=True)
def select_moves(out, states, keys, kind, depth):
    """Batched move choice of one kernel player; each game writes only its own slot.

    out: int64[n] columns; states: int64[n, 4] (games not over); keys: uint64[n] stream keys (used by
    `random` only); kind: KIND_*; depth: search depth of KIND_ALPHABETA.
    """
    for g in prange(states.shape[0]):
        if kind == KIND_RANDOM:
            out[g] = random_move(states[g], keys[g])
        elif kind == KIND_HEURISTIC:
            out[g] = heuristic_move(states[g])
        else:
            out[g] = alphabeta_move(states[g], depth)


@njit(cache=True)
def game_keys(out, seed, game_index):
    """out: uint64[n]; the EVAL stream key of every game index (int64[n])."""
    for g in range(game_index.shape[0]):
        out[g] = stream_key(np.uint64(seed), EVAL, np.uint64(game_index[g]), 0)


# ---------------------------------------------------------------------------------------------------
# Players: plain Python objects that choose moves for a batch of games.


class Player:
    """Chooses a column for each of a batch of positions."""

    name = "player"
    stochastic = False

    def select(self, states: np.ndarray, game_index: np.ndarray, seed: int) -> np.ndarray:
        """int64[n] columns for states int64[n, 4] (no game over); `game_index` int64[n] names each
        game's random stream."""
        raise NotImplementedError


# The searchers' moves by depth, then by position (first player's stones, second player's stones); a
# table of remembered moves starts afresh once it would hold more than SEARCH_CACHE_LIMIT positions
# (~200 bytes each).
_SEARCHED: dict[int, dict] = {}
SEARCH_CACHE_LIMIT = 1_000_000


def _remembered(cache: dict, states: np.ndarray, search) -> np.ndarray:
    """int64[n] moves for states int64[n, 4]: from `cache` (position -> column) where it has them, else
    from `search(states int64[m, 4]) -> int64[m]`, called once with every position it lacks (each once),
    whose moves it then keeps."""
    keys = list(zip(states[:, 0].tolist(), states[:, 1].tolist()))
    new: dict = {}
    for g, k in enumerate(keys):
        if k not in cache:
            new.setdefault(k, g)
    if not new:
        return np.array([cache[k] for k in keys], dtype=np.int64)
    fresh = dict(zip(new, search(np.ascontiguousarray(states[list(new.values())])).tolist()))
    out = np.array([fresh[k] if k in fresh else cache[k] for k in keys], dtype=np.int64)
    if len(cache) + len(fresh) > SEARCH_CACHE_LIMIT:
        cache.clear()
    cache.update(fresh)
    return out


class KernelPlayer(Player):
    """`random`, `heuristic` or an alpha-beta searcher.

    A searcher's move is a function of the position and the depth alone (both players' stones give the
    side to move too), so the searchers of each depth share the moves they have searched (`_SEARCHED`):
    the evaluations during a training run meet the same openings again and again, and `perfect` plays
    as `ab8` before ply 12, so a repeated position costs a lookup instead of a search.
    """

    def __init__(self, name: str, kind: int, depth: int = 0):
        self.name = name
        self.kind = kind
        self.depth = depth
        self.stochastic = kind == KIND_RANDOM

    def select(self, states, game_index, seed):
        states = np.ascontiguousarray(states, dtype=np.int64)
        if self.kind == KIND_ALPHABETA:
            return self._searched(states)
        keys = np.zeros(states.shape[0], dtype=np.uint64)
        if self.kind == KIND_RANDOM:
            game_keys(keys, int(seed), np.ascontiguousarray(game_index, dtype=np.int64))
        out = np.empty(states.shape[0], dtype=np.int64)
        select_moves(out, states, keys, self.kind, self.depth)
        return out

    def _searched(self, states):
        return _remembered(_SEARCHED.setdefault(self.depth, {}), states, self._search)

    def _search(self, states):
        out = np.empty(states.shape[0], dtype=np.int64)
        select_moves(out, states, np.zeros(states.shape[0], dtype=np.uint64), self.kind, self.depth)
        return out


def state_to_solver(state):
    """The solver's Position (side-to-move stones, all stones, ply) for a state row."""
    from numbaplay.eval.solver import Position

    mover = int(state[2]) & 1
    mine = int(state[mover])
    occupied = int(state[0]) | int(state[1])
    return Position("", mine, occupied, int(state[2]), int(state[3]) != 0)


class PerfectPlayer(Player):
    """The solver's best-scoring column from ply `min_ply` on, `before` (a kernel player) earlier."""

    def __init__(self, name: str = "perfect", min_ply: int = PERFECT_MIN_PLY, before: Player | None = None):
        self.name = name
        self.min_ply = min_ply
        self.before = before or KernelPlayer(PERFECT_BEFORE, KIND_ALPHABETA, MAX_DEPTH)
        self._cache: dict = {}
        self._solver = None

    def best_column(self, state) -> int:
        """The column of the best exact score (fastest win, slowest loss), ties centre-first."""
        return int(self.best_columns(np.asarray(state, dtype=np.int64)[None])[0])

    def best_columns(self, states) -> np.ndarray:
        """`best_column` of every row of states int64[n, 4]; positions not met before are searched in
        parallel, one solver per Numba thread (`numbaplay.eval.solver.SolverPool`)."""
        return _remembered(self._cache, states, self._solve)

    def _solve(self, states):
        workers = min(numba.get_num_threads(), MAX_SOLVER_WORKERS)
        if self._solver is None or self._solver.workers != workers:
            from numbaplay.eval.solver import SolverPool

            self._solver = SolverPool(workers)
        return self._solver.best_columns([state_to_solver(state) for state in states])

    def select(self, states, game_index, seed):
        states = np.ascontiguousarray(states, dtype=np.int64)
        out = np.empty(states.shape[0], dtype=np.int64)
        early = states[:, 2] < self.min_ply
        if early.any():
            out[early] = self.before.select(states[early], np.asarray(game_index)[early], seed)
        late = np.flatnonzero(~early)
        if late.size:
            out[late] = self.best_columns(states[late])
        return out


class AgentPlayer(Player):
    """A network playing greedily: argmax of the legal logits, ties to the lowest column.

    `logits_fn(obs float32[n, 84], mask uint8[n, 7]) -> float32[n, 7]`, or an object with `.logits_fn`
    (an `Agent`). Every call is one forward pass over all the games waiting for this player's move.
    """

    stochastic = False

    def __init__(self, agent_or_logits_fn, name: str = "agent"):
        self.logits_fn = getattr(agent_or_logits_fn, "logits_fn", agent_or_logits_fn)
        self.name = name

    def select(self, states, game_index, seed):
        states = np.ascontiguousarray(states, dtype=np.int64)
        n = states.shape[0]
        obs = np.zeros((n, 2 * CELLS), dtype=np.float32)
        mask = np.zeros((n, WIDTH), dtype=np.uint8)
        observations(CONNECT4, obs, states)
        legal_masks(CONNECT4, mask, states)
        return greedy_actions(self.logits_fn(obs, mask), mask)


def greedy_actions(logits, mask) -> np.ndarray:
    """int64[n]: argmax of the legal logits per row, ties to the lowest index."""
    logits = np.asarray(logits, dtype=np.float64)
    legal = np.asarray(mask) != 0
    return np.argmax(np.where(legal, logits, -np.inf), axis=1).astype(np.int64)


def _make_registry() -> dict:
    players: dict = {"random": lambda: KernelPlayer("random", KIND_RANDOM),
                     "heuristic": lambda: KernelPlayer("heuristic", KIND_HEURISTIC)}
    for d in range(1, MAX_DEPTH + 1):
        players[f"ab{d}"] = (lambda d=d: KernelPlayer(f"ab{d}", KIND_ALPHABETA, d))
    players["perfect"] = PerfectPlayer
    return players


PLAYERS = _make_registry()
"""name -> factory of the reference player, in ladder order (player 0, `random`, is rated 0)."""


def make_player(name: str) -> Player:
    """A fresh reference player; ConfigError naming the known players otherwise."""
    try:
        return PLAYERS[name]()
    except KeyError:
        raise ConfigError(f"unknown player {name!r}; choose one of {', '.join(PLAYERS)}") from None
