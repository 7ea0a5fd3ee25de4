"""A perfect Connect Four solver: negamax with alpha-beta, a transposition table and null windows.

The algorithm is the one of Pascal Pons' tutorial "Solving Connect 4: how to build a perfect AI"
(gamesolver.org), rewritten here as Numba kernels over flat arrays:

- **Bitboards.** Bit `7*col + row` (row 0 the bottom); every column has a seventh, never-set sentinel
  bit so that shifts by 1, 6, 7 and 8 step to a vertical, diagonal, horizontal or anti-diagonal
  neighbour without wrapping. A position is two uint64: `position`, the stones of the side to move, and
  `mask`, all stones. Playing `move` (one bit) is `position ^= mask; mask |= move`, so `position` always
  belongs to the side to move. `position + mask + bottom` is, in each column, a 1 just above the top
  stone with the mover's stones below it: an injective 49-bit key of the position.
- **Scores** (Pons' convention): with the side to move winning, `22 - (stones it has played when it
  wins)`, i.e. `(43 - n) // 2` if it wins with the stone that follows `n` stones on the board; a draw
  is 0, a loss the opposite of the opponent's win. When the side to move cannot win at once but has a
  move that does not lose at once, the score lies in `[-((40 - n) // 2), (41 - n) // 2]`.
- **Search.** Negamax with alpha-beta on a null window `[m, m+1]`, repeated while the window narrows
  the interval of possible scores, starting at its middle but pulled toward 0 (most positions are
  close games) -- a binary search over scores. Only "non-losing" moves are searched: when the opponent
  threatens two cells we can play, we lose; when it threatens one, we must play it; and we never play
  directly below an opponent's threat. Moves are tried by the number of threats they create, centre
  columns first among equals. A node is only entered when its mover has no immediate win (the root
  checks; a parent's non-losing move leaves none), which is what the bounds above assume.
- **Transposition table.** A prime number of slots, `slot = key % size` (Pons' choice: it spreads these
  keys evenly). Each slot is one uint64: the full 49-bit key and a 7-bit generation in the low 56
  bits (the tag), one bound in the top 8: bit 7 set for a lower bound, clear for an upper bound, bits
  0-6 the score + 64. Storing the full key makes every hit exact; a new generation makes the whole
  table read as empty in O(1) (entries are always overwritten, so an empty table and one full of
  stale entries search identically). Every stored bound is a true bound of that position's score
  whatever window produced it, so the table may be kept across positions without changing any answer;
  `Solver.reset()` gives a fresh one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from numbaplay.errors import ConfigError, PositionError
from numbaplay.nn.sync import atomic_add
from numbaplay.omp import launch_threads

launch_threads()  # before any cached kernel loads (numbaplay/omp.py)

WIDTH = 7
HEIGHT = 6
CELLS = WIDTH * HEIGHT

_U = np.uint64
_ZERO = _U(0)
_ONE = _U(1)
_TWO = _U(2)
_THREE = _U(3)
_UP_RIGHT = _U(HEIGHT + 2)  # shift to the cell one column right, one row up
_RIGHT = _U(HEIGHT + 1)  # one column right, same row
_DOWN_RIGHT = _U(HEIGHT)  # one column right, one row down
_BOTTOM = _U(sum(1 << ((HEIGHT + 1) * c) for c in range(WIDTH)))
_BOARD = _U(int(_BOTTOM) * ((1 << HEIGHT) - 1))
_COLUMN_MASKS = np.array([((1 << HEIGHT) - 1) << ((HEIGHT + 1) * c) for c in range(WIDTH)], dtype=np.uint64)
_COLUMN_ORDER = np.array([3, 2, 4, 1, 5, 0, 6], dtype=np.int64)  # centre first

_KEY_BITS = _U(WIDTH * (HEIGHT + 1))
_TAG_MASK = _U((1 << 56) - 1)
_VALUE_SHIFT = _U(56)
_LOWER_FLAG = 128
_SCORE_OFFSET = 64
_MAX_GENERATION = 127

# stats: int64[_N_STATS], owned by the caller
_NODES = 0  # positions searched by the last _solve
_GENERATION = 1  # 1.._MAX_GENERATION; table entries of other generations read as empty
_N_STATS = 2
# frames: int64[CELLS + 1, _FRAME_SIZE], one row per ply: the candidate moves' sort keys, then the window
_ALPHA = WIDTH
_BETA = WIDTH + 1
_NEXT = WIDTH + 2  # index of the sort key of the move being searched
_FRAME_SIZE = WIDTH + 3
# boards: uint64[CELLS + 1, _BOARD_SIZE], one row per ply
_POSITION = 0
_MASK = 1
_MOVES = 2  # the non-losing moves
_KEY = 3
_BOARD_SIZE = 4
# queue: int64[QUEUE_SIZE], the next position to take on its own cache line
QUEUE_NEXT = 8
QUEUE_SIZE = 16


@njit(cache=True)
def _line_cells(stones, d):
    """Cells that would complete four of `stones` along shift d (any cell, empty or not)."""
    d2 = d * _TWO
    d3 = d * _THREE
    a1 = stones >> d  # bit x: stone at x + d
    a2 = stones >> d2
    a3 = stones >> d3
    b1 = stones << d  # bit x: stone at x - d
    b2 = stones << d2
    b3 = stones << d3
    return (a1 & a2 & a3) | (b1 & a1 & a2) | (b2 & b1 & a1) | (b3 & b2 & b1)


@njit(cache=True)
def _winning_cells(stones, mask):
    """Empty cells (playable or not) where one more stone of `stones` makes four in a row."""
    cells = (stones << _ONE) & (stones << _TWO) & (stones << _THREE)  # three directly below
    cells |= _line_cells(stones, _RIGHT) | _line_cells(stones, _DOWN_RIGHT) | _line_cells(stones, _UP_RIGHT)
    return cells & (_BOARD ^ mask)


@njit(cache=True)
def _has_four(stones):
    """True if `stones` holds four in a row."""
    for d in (_ONE, _RIGHT, _DOWN_RIGHT, _UP_RIGHT):
        pairs = stones & (stones >> d)
        if pairs & (pairs >> (d * _TWO)):
            return True
    return False


@njit(cache=True)
def _playable(mask):
    """The lowest empty cell of every column that is not full."""
    return (mask + _BOTTOM) & _BOARD


@njit(cache=True)
def _popcount(x):
    """Number of set bits (few here: one loop turn per bit)."""
    n = 0
    while x:
        x &= x - _ONE
        n += 1
    return n


@njit(cache=True)
def _non_losing_moves(position, mask):
    """Playable cells that do not hand the opponent an immediate win (0 if every move loses)."""
    playable = _playable(mask)
    threats = _winning_cells(position ^ mask, mask)
    forced = playable & threats
    if forced:
        if forced & (forced - _ONE):
            return _ZERO  # two threats we could block: we cannot block both
        playable = forced
    return playable & ~(threats >> _ONE)


@njit(cache=True)
def _trunc_half(x):
    """x / 2 rounded toward zero (C division): where the score search moves its window toward 0."""
    return x // 2 if x >= 0 else -((-x) // 2)


@njit(cache=True)
def _store(table, tag, key, score, lower):
    """Record a bound of the position `key`, replacing whatever the slot held; tag = key | generation."""
    value = score + _SCORE_OFFSET + (_LOWER_FLAG if lower else 0)
    table[key % _U(table.shape[0])] = tag | (_U(value) << _VALUE_SHIFT)


@njit(cache=True)
def _negamax(table, stats, frames, boards, position, mask, n_moves, alpha, beta):
    """Score of a position whose mover cannot win at once, exact if inside (alpha, beta).

    A result <= alpha is an upper bound of the score, one >= beta a lower bound. Recursion unrolled
    onto an explicit stack (one row per ply in frames and boards), which Numba runs ~20% faster than
    the recursive form.
    table: uint64[prime]; stats: int64[2]; frames: int64[CELLS+1, 10]; boards: uint64[CELLS+1, 4].
    """
    generation = _U(stats[_GENERATION]) << _KEY_BITS
    size = _U(table.shape[0])
    root = n_moves
    ply = n_moves  # also the number of stones on the board
    nodes = 0
    result = 0
    entering = True
    while True:
        if entering:  # a new node (position, mask, alpha, beta) at `ply`
            nodes += 1
            entering = False
            moves = _non_losing_moves(position, mask)
            if moves == 0:
                result = -((CELLS - ply) // 2)  # the opponent wins with its next stone
                continue
            if ply >= CELLS - 2:
                result = 0  # neither side can complete a line in the last two cells
                continue
            low = -((CELLS - 2 - ply) // 2)  # the opponent cannot win before its second stone
            if alpha < low:
                alpha = low
                if alpha >= beta:
                    result = alpha
                    continue
            high = (CELLS - 1 - ply) // 2  # we cannot win with our next stone
            if beta > high:
                beta = high
                if alpha >= beta:
                    result = beta
                    continue
            key = position + mask + _BOTTOM
            entry = table[key % size]
            if (entry & _TAG_MASK) == (key | generation):
                value = np.int64(entry >> _VALUE_SHIFT)
                bound = (value & 127) - _SCORE_OFFSET
                if value & _LOWER_FLAG:
                    if alpha < bound:
                        alpha = bound
                        if alpha >= beta:
                            result = alpha
                            continue
                elif beta > bound:
                    beta = bound
                    if alpha >= beta:
                        result = beta
                        continue
            # insertion sort of the candidate moves, best last: threats created, then centre first
            n = 0
            for i in range(WIDTH):
                move = moves & _COLUMN_MASKS[_COLUMN_ORDER[i]]
                if move:
                    threats = min(_popcount(_winning_cells(position | move, mask | move)), 31)
                    sort_key = threats * 8 + (7 - i)
                    j = n
                    while j > 0 and frames[ply, j - 1] > sort_key:
                        frames[ply, j] = frames[ply, j - 1]
                        j -= 1
                    frames[ply, j] = sort_key
                    n += 1
            frames[ply, _ALPHA] = alpha
            frames[ply, _BETA] = beta
            frames[ply, _NEXT] = n - 1
            boards[ply, _POSITION] = position
            boards[ply, _MASK] = mask
            boards[ply, _MOVES] = moves
            boards[ply, _KEY] = key
        else:  # `result` comes back from the node at `ply` to its parent
            if ply == root:
                stats[_NODES] += nodes
                return result
            ply -= 1
            score = -result
            alpha = frames[ply, _ALPHA]
            beta = frames[ply, _BETA]
            key = boards[ply, _KEY]
            if score >= beta:
                _store(table, key | generation, key, score, True)
                result = score
                continue
            if score > alpha:
                alpha = score
                frames[ply, _ALPHA] = alpha
            if frames[ply, _NEXT] == 0:
                _store(table, key | generation, key, alpha, False)
                result = alpha
                continue
            frames[ply, _NEXT] -= 1
            position = boards[ply, _POSITION]
            mask = boards[ply, _MASK]
            moves = boards[ply, _MOVES]
        # enter the child reached by the move frames[ply, _NEXT]
        move = moves & _COLUMN_MASKS[_COLUMN_ORDER[7 - (frames[ply, frames[ply, _NEXT]] & 7)]]
        position = position ^ mask
        mask = mask | move
        alpha, beta = -beta, -alpha
        ply += 1
        entering = True


@njit(cache=True)
def _solve(table, stats, frames, boards, position, mask, n_moves, weak):
    """Exact score of a position that is not over (weak: only its sign, from a [-1, 1] window).

    table: uint64[prime]; stats: int64[2]; frames: int64[CELLS+1, 10]; boards: uint64[CELLS+1, 4].
    """
    stats[_NODES] = 0
    if _winning_cells(position, mask) & _playable(mask):
        return 1 if weak else (CELLS + 1 - n_moves) // 2
    low = -((CELLS - n_moves) // 2)
    high = (CELLS + 1 - n_moves) // 2
    if weak:
        low = -1
        high = 1
    while low < high:  # binary search with null windows, from the middle but pulled toward 0
        mid = low + (high - low) // 2
        if mid <= 0 and _trunc_half(low) < mid:
            mid = _trunc_half(low)
        elif mid >= 0 and _trunc_half(high) > mid:
            mid = _trunc_half(high)
        score = _negamax(table, stats, frames, boards, position, mask, n_moves, mid, mid + 1)
        if score <= mid:
            high = score
        else:
            low = score
    if weak and low != 0:
        return 1 if low > 0 else -1
    return low


@njit(cache=True)
def _best_column(table, stats, frames, boards, position, mask, n_moves):
    """The column (0-based) of the best exact score for the side to move, the first of equals in the
    centre-first order: the column `Solver.analyze` followed by that choice gives, found with one exact
    solve of the position and a null-window search per column tried instead of an exact solve of every
    column. The position must not be over; stats[_NODES] ends as the positions searched.

    The position's exact score `best` is the best of its columns' scores, so every column scores at most
    `best`, and a column reaches it when the score v of the position after it is at most -best: one
    search on the window (-best, -best + 1).
    """
    stats[_NODES] = 0
    wins = _winning_cells(position, mask) & _playable(mask)
    only = -1
    for i in range(WIDTH):
        col = _COLUMN_ORDER[i]
        move = (mask + (_BOTTOM & _COLUMN_MASKS[col])) & _COLUMN_MASKS[col]
        if move:
            if wins & move:
                return col  # a win with this stone: no other column scores as much
            if only < 0:
                only = col
    if n_moves + 1 == CELLS:
        return only  # the last cell, and no win: the only legal column
    best = _solve(table, stats, frames, boards, position, mask, n_moves, False)
    searched = stats[_NODES]
    for i in range(WIDTH):
        col = _COLUMN_ORDER[i]
        move = (mask + (_BOTTOM & _COLUMN_MASKS[col])) & _COLUMN_MASKS[col]
        if move == 0:
            continue
        child = position ^ mask  # the opponent's stones: it moves next
        child_mask = mask | move
        if _winning_cells(child, child_mask) & _playable(child_mask):
            v = (CELLS + 1 - (n_moves + 1)) // 2  # the opponent wins with its next stone
        else:
            stats[_NODES] = 0
            v = _negamax(table, stats, frames, boards, child, child_mask, n_moves + 1, -best, -best + 1)
            searched += stats[_NODES]
        if v <= -best:
            stats[_NODES] = searched
            return col
    stats[_NODES] = searched
    return -1  # not reached: some column scores `best`


@njit(cache=True, parallel=True)
def _best_columns(tables, stats, frames, boards, positions, masks, n_moves, out, queue):
    """`_best_column` of many positions by W workers (W = tables.shape[0]), worker w with its own
    table, stats, frames and boards (row w of each). Each worker takes the next position not yet taken
    (an atomic counter, queue[QUEUE_NEXT] = 0 on entry), so a long search does not hold up the others.
    Every answer is exact whatever a table holds: the columns do not depend on the workers or on which
    one searched what."""
    workers = tables.shape[0]
    n = positions.shape[0]
    for w in prange(workers):
        i = atomic_add(queue, QUEUE_NEXT, 1)
        while i < n:
            out[i] = _best_column(tables[w], stats[w], frames[w], boards[w], positions[i], masks[i], n_moves[i])
            i = atomic_add(queue, QUEUE_NEXT, 1)


def _largest_prime_below(n: int) -> int:
    """The largest prime < n (n >= 3), by trial division: keys modulo a prime spread evenly."""
    for candidate in range(n - 1, 1, -1):
        if all(candidate % d for d in range(2, int(candidate**0.5) + 1)):
            return candidate
    raise ValueError(f"no prime below {n}")


@dataclass(frozen=True)
class Position:
    """A parsed Connect Four position in the solver's bitboards (Python ints)."""

    moves: str
    """The move string it came from (SPEC section 1 notation)."""
    position: int
    """Stones of the side to move."""
    mask: int
    """All stones."""
    n_moves: int
    """Stones on the board."""
    game_over: bool
    """The last move made four in a row or filled the board."""

    def can_play(self, col: int) -> bool:
        """True if column `col` (0-based) has room."""
        return not (self.mask >> ((HEIGHT + 1) * col + HEIGHT - 1)) & 1

    def move_bit(self, col: int) -> int:
        """The cell a stone dropped into column `col` (0-based, with room) lands on."""
        return (self.mask + (1 << ((HEIGHT + 1) * col))) & int(_COLUMN_MASKS[col])

    def wins_with(self, col: int) -> bool:
        """True if the side to move makes four in a row by playing column `col`."""
        return _has_four_int(self.position | self.move_bit(col))

    def played(self, col: int) -> Position:
        """The position after the side to move plays column `col` (0-based, with room)."""
        won = self.wins_with(col)
        move = self.move_bit(col)
        n = self.n_moves + 1
        return Position(self.moves + str(col + 1), self.position ^ self.mask, self.mask | move, n,
                        won or n == CELLS)


def _has_four_int(stones: int) -> bool:
    """_has_four on a Python int (parsing stays in plain Python)."""
    for d in (1, HEIGHT + 1, HEIGHT, HEIGHT + 2):
        pairs = stones & (stones >> d)
        if pairs & (pairs >> (2 * d)):
            return True
    return False


def parse_position(moves: str) -> Position:
    """The position reached by `moves`; PositionError naming the bad character and its 1-based ply."""
    position = mask = 0
    over = False
    for ply, ch in enumerate(moves, start=1):
        if over:
            raise PositionError(f'position "{moves}": move "{ch}" at ply {ply} comes after the game ended')
        if ch not in "1234567":
            raise PositionError(f'position "{moves}": "{ch}" at ply {ply} is not a column (use digits 1..7)')
        col = int(ch) - 1
        column = int(_COLUMN_MASKS[col])
        move = (mask + (1 << ((HEIGHT + 1) * col))) & column
        if not move:
            raise PositionError(f'position "{moves}": column {ch} is full at ply {ply}')
        over = _has_four_int(position | move) or ply == CELLS
        position ^= mask
        mask |= move
    return Position(moves, position, mask, len(moves), over)


def _search_buffers(workers: int, tt_log2: int) -> tuple[np.ndarray, ...]:
    """For each of `workers` searches: a transposition table (the largest prime < 2**tt_log2 slots, empty),
    its stats (generation 1), and the frames and boards of its stack, each array with a leading worker
    axis."""
    if not 10 <= tt_log2 <= 30:
        raise ConfigError(f"tt_log2 must be in 10..30 (a table of 8 * 2**tt_log2 bytes), got {tt_log2}")
    stats = np.zeros((workers, _N_STATS), dtype=np.int64)
    stats[:, _GENERATION] = 1
    return (np.zeros((workers, _largest_prime_below(1 << tt_log2)), dtype=np.uint64), stats,
            np.zeros((workers, CELLS + 1, _FRAME_SIZE), dtype=np.int64),
            np.zeros((workers, CELLS + 1, _BOARD_SIZE), dtype=np.uint64))


def _ongoing(moves: str | Position) -> Position:
    """The position of `moves`; PositionError if its game is over (nothing to solve)."""
    pos = moves if isinstance(moves, Position) else parse_position(moves)
    if pos.game_over:
        raise PositionError(f'position "{pos.moves}": the game is over, there is nothing to solve')
    return pos


class Solver:
    """A perfect Connect Four solver with its own transposition table (the largest prime < 2**tt_log2 slots).

    The table is kept between calls (every entry is a true bound of its position, so answers do not
    change); `reset()` empties it in O(1).
    """

    def __init__(self, tt_log2: int = 23):
        tables, stats, frames, boards = _search_buffers(1, tt_log2)
        self.table, self._stats, self._frames, self._boards = tables[0], stats[0], frames[0], boards[0]
        self.nodes = 0
        """Positions searched by the last solve or analyze."""

    def reset(self) -> None:
        """Forget every stored bound: a new generation, or a zeroed table once generations run out."""
        generation = int(self._stats[_GENERATION]) + 1
        if generation > _MAX_GENERATION:
            self.table[:] = 0
            generation = 1
        self._stats[_GENERATION] = generation

    def _search(self, pos: Position, weak: bool) -> int:
        return int(_solve(self.table, self._stats, self._frames, self._boards, _U(pos.position),
                          _U(pos.mask), pos.n_moves, weak))

    def solve(self, moves: str | Position, weak: bool = False) -> int:
        """Score of the position for the side to move (weak: -1, 0 or 1 only, and faster)."""
        pos = _ongoing(moves)
        score = self._search(pos, weak)
        self.nodes = int(self._stats[_NODES])
        return score

    def best_column(self, moves: str | Position) -> int:
        """The column (0-based) of the best exact score for the side to move, the first of equal scores
        in the order 3, 2, 4, 1, 5, 0, 6 (centre first): the perfect player's move. The same column as
        `analyze` would give, for a fraction of its search."""
        pos = _ongoing(moves)
        col = int(_best_column(self.table, self._stats, self._frames, self._boards, _U(pos.position),
                               _U(pos.mask), pos.n_moves))
        self.nodes = int(self._stats[_NODES])
        return col

    def analyze(self, moves: str | Position, weak: bool = False) -> list[int | None]:
        """Score of each of the 7 columns for the side to move after playing it (None: full column).

        A move that wins on the spot scores that win; others score minus the reply's score.
        """
        pos = _ongoing(moves)
        scores: list[int | None] = []
        nodes = 0
        for col in range(WIDTH):
            if not pos.can_play(col):
                scores.append(None)
            elif pos.wins_with(col):
                scores.append(1 if weak else (CELLS + 1 - pos.n_moves) // 2)
            elif pos.n_moves + 1 == CELLS:
                scores.append(0)  # the last cell, and no win: a draw
            else:
                scores.append(-self._search(pos.played(col), weak))
                nodes += int(self._stats[_NODES])
        self.nodes = nodes
        return scores


class SolverPool:
    """Transposition tables for `workers` solvers searching side by side: `best_columns` of a batch.

    Tables are kept between calls like `Solver`'s. `tt_log2` slots each (default 2**23, 64 MB, for up to
    two workers; 2**22 for more).
    """

    def __init__(self, workers: int, tt_log2: int | None = None):
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        tt_log2 = tt_log2 if tt_log2 is not None else (23 if workers <= 2 else 22)
        self.tables, self._stats, self._frames, self._boards = _search_buffers(workers, tt_log2)

    @property
    def workers(self) -> int:
        return self.tables.shape[0]

    def best_columns(self, positions: list[Position]) -> np.ndarray:
        """int64[n]: `Solver.best_column` of each position (none may be over), searched in parallel."""
        positions = [_ongoing(pos) for pos in positions]
        out = np.empty(len(positions), dtype=np.int64)
        if positions:
            # fewest stones first: the longest searches start first and the short ones fill in after
            order = sorted(range(len(positions)), key=lambda i: positions[i].n_moves)
            found = np.empty(len(positions), dtype=np.int64)
            _best_columns(self.tables, self._stats, self._frames, self._boards,
                          np.array([positions[i].position for i in order], dtype=np.uint64),
                          np.array([positions[i].mask for i in order], dtype=np.uint64),
                          np.array([positions[i].n_moves for i in order], dtype=np.int64), found,
                          np.zeros(QUEUE_SIZE, dtype=np.int64))
            out[order] = found
        return out


_default: Solver | None = None


def _default_solver() -> Solver:
    global _default
    if _default is None:
        _default = Solver()
    return _default


def solve(moves: str | Position, weak: bool = False) -> int:
    """Score of `moves` for the side to move, with a shared module-level Solver."""
    return _default_solver().solve(moves, weak)


def analyze(moves: str | Position, weak: bool = False) -> list[int | None]:
    """Per-column scores of `moves` (None for a full column), with a shared module-level Solver."""
    return _default_solver().analyze(moves, weak)
