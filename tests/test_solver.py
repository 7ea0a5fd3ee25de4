"""The Connect Four solver against Pons' test sets, a slow NumPy twin, and a plain minimax.

The test sets live outside the repository, in `shared/data/connect4/` next to it (or wherever
NUMBAPLAY_C4_DATA points); the tests that need them are skipped when they are absent. Under
NUMBA_DISABLE_JIT=1 the sets are sampled more thinly and the deep ones skipped.
"""
from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numba
import numpy as np
import pytest
from click.testing import CliRunner

from numbaplay.cli.solve import solve as solve_command
from numbaplay.errors import PositionError
from numbaplay.eval import solver as S

ROWS, COLS = S.HEIGHT, S.WIDTH
JIT = not numba.config.DISABLE_JIT
FULL_BOARD_DRAW = "447241375375713754344351355726621126616622"


def data_dir() -> Path:
    env = os.environ.get("NUMBAPLAY_C4_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data" / "connect4"


@cache
def load_set(name: str) -> list[tuple[str, int]]:
    path = data_dir() / f"Test_{name}"
    if not path.is_file():
        message = f"Pons' test set {path} not found (set NUMBAPLAY_C4_DATA to its folder)"
        if os.environ.get("NUMBAPLAY_REQUIRE_DATA"):  # CI: the solver's exactness checks must run
            pytest.fail(message)
        pytest.skip(message)
    rows = []
    for line in path.read_text().splitlines():
        moves, score = line.split()
        rows.append((moves, int(score)))
    return rows


@pytest.fixture(scope="module")
def solver() -> S.Solver:
    return S.Solver(tt_log2=22)


# ---------------------------------------------------------------------------------------------------
# The slow twin: a 6x7 int8 board (row 0 the bottom; 1 = first player, 2 = second), checked cell by cell.

DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def naive_board(moves: str) -> np.ndarray:
    board = np.zeros((ROWS, COLS), dtype=np.int8)
    for ply, ch in enumerate(moves):
        col = int(ch) - 1
        row = int(np.count_nonzero(board[:, col]))
        board[row, col] = 1 + ply % 2
    return board


def naive_makes_four(board: np.ndarray, row: int, col: int, player: int) -> bool:
    """True if a stone of `player` at (row, col) would lie in four in a row."""
    for dr, dc in DIRECTIONS:
        run = 1
        for sign in (1, -1):
            r, c = row + sign * dr, col + sign * dc
            while 0 <= r < ROWS and 0 <= c < COLS and board[r, c] == player:
                run += 1
                r, c = r + sign * dr, c + sign * dc
        if run >= 4:
            return True
    return False


def naive_has_four(board: np.ndarray, player: int) -> bool:
    for r in range(ROWS):
        for c in range(COLS):
            for dr, dc in DIRECTIONS:
                cells = [(r + k * dr, c + k * dc) for k in range(4)]
                if all(0 <= rr < ROWS and 0 <= cc < COLS and board[rr, cc] == player for rr, cc in cells):
                    return True
    return False


def naive_winning_cells(board: np.ndarray, player: int) -> set[tuple[int, int]]:
    """Empty cells, playable or not, where a stone of `player` would make four in a row."""
    return {(r, c) for r in range(ROWS) for c in range(COLS)
            if board[r, c] == 0 and naive_makes_four(board, r, c, player)}


def naive_playable(board: np.ndarray) -> list[int]:
    return [c for c in range(COLS) if board[ROWS - 1, c] == 0]


def naive_drop(board: np.ndarray, col: int, player: int) -> tuple[np.ndarray, int]:
    row = int(np.count_nonzero(board[:, col]))
    child = board.copy()
    child[row, col] = player
    return child, row


def naive_non_losing_columns(board: np.ndarray, player: int) -> set[int]:
    """Columns after which the opponent has no immediate win."""
    opponent = 3 - player
    safe = set()
    for col in naive_playable(board):
        child, _ = naive_drop(board, col, player)
        if not any(naive_makes_four(child, int(np.count_nonzero(child[:, c])), c, opponent)
                   for c in naive_playable(child)):
            safe.add(col)
    return safe


def naive_score(board: np.ndarray, n_moves: int, memo: dict) -> int:
    """Plain negamax over the whole remaining tree, in Pons' scores, for the side to move."""
    key = board.tobytes()
    if key in memo:
        return memo[key]
    player = 1 + n_moves % 2
    best = None
    for col in naive_playable(board):
        child, row = naive_drop(board, col, player)
        if naive_makes_four(board, row, col, player):
            score = (S.CELLS + 1 - n_moves) // 2
        elif n_moves + 1 == S.CELLS:
            score = 0
        else:
            score = -naive_score(child, n_moves + 1, memo)
        best = score if best is None else max(best, score)
    memo[key] = best
    return best


def cells_of(bits: int) -> set[tuple[int, int]]:
    return {(b % (ROWS + 1), b // (ROWS + 1)) for b in range(64) if (bits >> b) & 1}


def random_positions(seed: int, count: int, min_moves: int, max_moves: int) -> list[str]:
    """Positions of random games that are not over, from an explicit generator."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        target = int(rng.integers(min_moves, max_moves + 1))
        moves = ""
        pos = S.parse_position(moves)
        while pos.n_moves < target and not pos.game_over:
            col = int(rng.choice([c for c in range(COLS) if pos.can_play(c)]))
            moves += str(col + 1)
            pos = pos.played(col)
        if not pos.game_over:
            out.append(moves)
    return out


# ---------------------------------------------------------------------------------------------------
# Bitboard kernels against the twin


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bitboard_kernels_match_naive_twin(seed):
    for moves in random_positions(seed, 40, 4, 36):
        pos = S.parse_position(moves)
        board = naive_board(moves)
        mover = 1 + pos.n_moves % 2
        assert pos.n_moves == np.count_nonzero(board)
        mine, mask = np.uint64(pos.position), np.uint64(pos.mask)
        theirs = mine ^ mask
        assert cells_of(pos.mask) == {(r, c) for r in range(ROWS) for c in range(COLS) if board[r, c]}
        mine_cells = {(r, c) for r in range(ROWS) for c in range(COLS) if board[r, c] == mover}
        assert cells_of(pos.position) == mine_cells
        assert cells_of(int(S._winning_cells(mine, mask))) == naive_winning_cells(board, mover)
        assert cells_of(int(S._winning_cells(theirs, mask))) == naive_winning_cells(board, 3 - mover)
        assert bool(S._has_four(mine)) == naive_has_four(board, mover)
        assert bool(S._has_four(theirs)) == naive_has_four(board, 3 - mover)
        playable = int(S._playable(mask))
        assert {c for _, c in cells_of(playable)} == set(naive_playable(board))
        assert S._popcount(mask) == pos.n_moves
        if not naive_winning_cells(board, mover) & {(int(np.count_nonzero(board[:, c])), c)
                                                   for c in naive_playable(board)}:
            safe = int(S._non_losing_moves(mine, mask))
            assert {c for _, c in cells_of(safe)} == naive_non_losing_columns(board, mover)


def test_game_over_matches_naive_twin():
    for moves in random_positions(7, 30, 20, 41):
        pos = S.parse_position(moves)
        for col in range(COLS):
            if pos.can_play(col):
                child, row = naive_drop(naive_board(moves), col, 1 + pos.n_moves % 2)
                assert pos.wins_with(col) == naive_has_four(child, 1 + pos.n_moves % 2)


@pytest.mark.parametrize("seed", [11, 12])
def test_solve_matches_plain_minimax_near_the_end(seed):
    solver = S.Solver(tt_log2=16)
    for moves in random_positions(seed, 12, 31, 34):
        board = naive_board(moves)
        expected = naive_score(board, len(moves), {})
        assert solver.solve(moves) == expected, moves
        assert solver.solve(moves, weak=True) == np.sign(expected), moves
        for col, score in enumerate(solver.analyze(moves)):
            if board[ROWS - 1, col]:
                assert score is None
                continue
            player = 1 + len(moves) % 2
            child, row = naive_drop(board, col, player)
            if naive_makes_four(board, row, col, player):
                want = (S.CELLS + 1 - len(moves)) // 2
            elif len(moves) + 1 == S.CELLS:
                want = 0
            else:
                want = -naive_score(child, len(moves) + 1, {})
            assert score == want, (moves, col)


# ---------------------------------------------------------------------------------------------------
# Pons' test sets


def check_exact(solver: S.Solver, rows: list[tuple[str, int]], fresh_table: bool) -> None:
    wrong = []
    for moves, expected in rows:
        if fresh_table:
            solver.reset()
        score = solver.solve(moves)
        if score != expected:
            wrong.append((moves, score, expected))
    assert not wrong, f"{len(wrong)} of {len(rows)} wrong, first: {wrong[:5]}"


@pytest.mark.parametrize("name", ["L3_R1", "L2_R1"])
def test_exact_on_every_easy_position(solver, name):
    rows = load_set(name)
    check_exact(solver, rows if JIT else rows[::25], fresh_table=name == "L3_R1")


@pytest.mark.parametrize("name, step", [("L2_R2", 50), ("L1_R1", 50), ("L1_R2", 50)])
def test_exact_on_samples_of_harder_sets(solver, name, step):
    if not JIT and name != "L1_R1":
        pytest.skip("too slow without the JIT")
    check_exact(solver, load_set(name)[::step], fresh_table=True)


# Begin-Hard positions of 2-2.4 million nodes, ~0.2 s each (0-based lines of Test_L1_R3; most take 10x more)
CHEAP_BEGIN_HARD = (5, 9, 13)


@pytest.mark.skipif(not JIT, reason="too slow without the JIT")
def test_exact_on_a_few_begin_hard(solver):
    rows = load_set("L1_R3")
    check_exact(solver, [rows[i] for i in CHEAP_BEGIN_HARD], fresh_table=True)


def test_weak_solve_is_the_sign(solver):
    rows = load_set("L2_R1")[::10] + load_set("L1_R1")[::50]
    for moves, expected in rows:
        assert solver.solve(moves, weak=True) == np.sign(expected), moves


def test_analyze_agrees_with_solve(solver):
    rows = load_set("L2_R1")[::100] + load_set("L3_R1")[::100]
    if JIT:  # the children of some Begin-Easy positions take 10**8 nodes: these take under 0.2 s each
        rows += [load_set("L1_R1")[i] for i in (50, 250, 300, 400, 450, 500, 550, 600, 900)]
    for moves, expected in rows:
        scores = solver.analyze(moves)
        pos = S.parse_position(moves)
        assert [s is None for s in scores] == [not pos.can_play(c) for c in range(COLS)]
        assert max(s for s in scores if s is not None) == expected, moves
        for col, score in enumerate(scores):
            if score is not None and not pos.wins_with(col):
                child = pos.played(col)
                assert score == (0 if child.game_over else -solver.solve(child)), (moves, col)
    fresh = S.Solver(tt_log2=12)
    fresh.analyze(rows[0][0])
    assert fresh.nodes > 0


def test_reused_and_fresh_tables_agree():
    rows = load_set("L2_R1")[:40]
    kept, fresh = S.Solver(tt_log2=12), S.Solver(tt_log2=20)
    for moves, expected in rows:
        fresh.reset()
        assert kept.solve(moves) == fresh.solve(moves) == expected


def test_generations_wrap_around():
    solver = S.Solver(tt_log2=12)
    moves, expected = load_set("L3_R1")[0]
    for _ in range(2 * S._MAX_GENERATION + 3):
        solver.reset()
        assert solver.solve(moves) == expected
    assert 1 <= solver._stats[S._GENERATION] <= S._MAX_GENERATION


def test_module_level_functions():
    assert S.solve("2252576253462244111563365343671351441") == -1
    assert S.solve("2252576253462244111563365343671351441", weak=True) == -1
    scores = S.analyze("2252576253462244111563365343671351441")
    assert len(scores) == COLS and max(s for s in scores if s is not None) == -1


# ---------------------------------------------------------------------------------------------------
# Positions: parsing and errors


def test_parse_position_bitboards():
    pos = S.parse_position("")
    assert (pos.position, pos.mask, pos.n_moves, pos.game_over) == (0, 0, 0, False)
    pos = S.parse_position("44")
    assert pos.mask == (1 << 21) | (1 << 22) and pos.position == 1 << 21  # the first player's stone
    assert S.parse_position(FULL_BOARD_DRAW).game_over
    assert not naive_has_four(naive_board(FULL_BOARD_DRAW), 1)
    assert not naive_has_four(naive_board(FULL_BOARD_DRAW), 2)


@pytest.mark.parametrize("moves, message", [
    ("4444444", 'position "4444444": column 4 is full at ply 7'),
    ("12a4", 'position "12a4": "a" at ply 3 is not a column'),
    ("80", '"8" at ply 1 is not a column'),
    ("0", '"0" at ply 1 is not a column'),
    ("44 4", '" " at ply 3 is not a column'),
    ("12121213", 'move "3" at ply 8 comes after the game ended'),
    (FULL_BOARD_DRAW + "1", "at ply 43 comes after the game ended"),
])
def test_parse_position_errors(moves, message):
    with pytest.raises(PositionError) as info:
        S.parse_position(moves)
    assert message in str(info.value)


@pytest.mark.parametrize("moves", ["1212121", "4455667", FULL_BOARD_DRAW])
def test_solving_a_finished_game_is_an_error(moves):
    assert S.parse_position(moves).game_over
    with pytest.raises(PositionError, match="game is over"):
        S.solve(moves)
    with pytest.raises(PositionError, match="game is over"):
        S.analyze(moves)


def test_immediate_wins_and_forced_losses():
    # the first player threatens 1212121 and 4455667: its mover wins with its 4th stone -> 22 - 4 = 18
    assert S.solve("121212") == 18
    assert S.solve("445566") == 18
    # the second player to move cannot stop both ends of 345 on the bottom row: it loses at stone 4
    assert S.solve("33445") == -18


# ---------------------------------------------------------------------------------------------------
# The CLI


def run_cli(args: list[str], stdin: str | None = None):
    return CliRunner().invoke(solve_command, args, input=stdin)


def test_cli_positions_as_arguments():
    result = run_cli(["2252576253462244111563365343671351441", "121212"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["2252576253462244111563365343671351441 -1", "121212 18"]


def test_cli_stdin_with_scores_and_check():
    rows = load_set("L3_R1")[:5]
    text = "".join(f"{m} {s}\n" for m, s in rows) + "\n"
    result = run_cli(["--check"], text)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{m} {s}" for m, s in rows]

    moves, score = rows[0]
    bad = f"{moves} {score + 1}\n"
    assert run_cli([], bad).exit_code == 0  # a disagreeing score is only reported with --check
    result = run_cli(["--check"], bad)
    assert result.exit_code == 1
    assert result.stdout == f"{moves} {score}\n"
    assert "1 of 1 given scores disagree" in result.stderr


def test_cli_analyze_and_weak():
    moves = "2252576253462244111563365343671351441"
    expected = S.analyze(moves)
    result = run_cli(["--analyze", moves])
    assert result.exit_code == 0, result.output
    fields = result.stdout.split()
    assert fields[0] == moves
    assert fields[1:] == ["full" if s is None else str(s) for s in expected]
    assert fields[1:6] == ["full"] * 5

    result = run_cli(["--weak", "121212", moves, "33445"])
    assert result.stdout.splitlines() == ["121212 1", f"{moves} -1", "33445 -1"]


@pytest.mark.parametrize("args, stdin, message", [
    (["4444444"], None, "column 4 is full at ply 7"),
    ([], "12x\n", '"x" at ply 3 is not a column'),
    ([], "1212121\n", "game is over"),
    ([], "12 abc\n", "is not an integer"),
    ([], "12 1 2\n", "expected '<moves>' or '<moves> <score>'"),
])
def test_cli_malformed_input(args, stdin, message):
    result = run_cli(args, stdin)
    assert result.exit_code == 2
    assert result.stderr.startswith("numbaplay: error: ")
    assert message in result.stderr


# ---------------------------------------------------------------------------------------------------
# best_column: one exact solve and null-window checks, against the column analyze's scores give.

CENTRE_FIRST = (3, 2, 4, 1, 5, 0, 6)


def analyzed_column(solver, moves):
    """The twin: every column's exact score, the best one, the first of equals in centre-first order."""
    scores = solver.analyze(moves)
    best = max(s for s in scores if s is not None)
    return next(c for c in CENTRE_FIRST if scores[c] == best)


def best_column_cases():
    cases = [
        FULL_BOARD_DRAW[:-1],  # the last cell: the only legal column
        "445566",  # wins at once in columns 3 and 7: the 3rd, first in centre-first order
        "44556",  # a double threat: every column loses, the slowest loss is chosen
    ]
    cases += [m for m, _ in load_set("L3_R1")[:: 50 if JIT else 250]]
    if not JIT:  # searches from the middle game take minutes in plain Python
        return cases + random_positions(3, 6, 32, 38)
    return cases + random_positions(3, 60, 14, 38) + [m for m, _ in load_set("L2_R1")[::100]] + [
        "11223",  # the second player must block column 4
        "4444442222223",  # two full columns
    ]


def test_best_column_is_analyzes_choice():
    a, b = S.Solver(tt_log2=20), S.Solver(tt_log2=20)
    ties = 0
    for moves in best_column_cases():
        assert a.best_column(moves) == analyzed_column(b, moves), moves
        scores = [s for s in b.analyze(moves) if s is not None]
        ties += scores.count(max(scores)) > 1
    assert ties >= (5 if JIT else 1)  # the centre-first tie-break was exercised


@pytest.mark.skipif(not JIT, reason="middle-game searches take minutes in plain Python; end-game ones are too "
                                     "short for the saving to show")
def test_best_column_searches_less_than_analyze():
    moves = [m for m, _ in load_set("L2_R1")[:20]]
    a, b = S.Solver(tt_log2=20), S.Solver(tt_log2=20)
    fast = slow = 0
    for m in moves:
        a.reset()
        b.reset()
        a.best_column(m)
        b.analyze(m)
        fast += a.nodes
        slow += b.nodes
    assert 0 < fast < slow / 2


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_solver_pool_gives_each_positions_best_column(workers):
    cases = best_column_cases()
    positions = [S.parse_position(m) for m in cases]
    one = S.Solver(tt_log2=20)
    expected = [one.best_column(p) for p in positions]
    pool = S.SolverPool(workers, tt_log2=18)
    assert pool.best_columns(positions).tolist() == expected
    # again, reversed, with the tables the first call filled
    assert pool.best_columns(positions[::-1]).tolist() == expected[::-1]
    assert pool.best_columns([]).shape == (0,)


def test_best_column_edge_cases():
    s = S.Solver(tt_log2=16)
    assert s.best_column("445566") == 2
    if JIT:  # the solve behind it searches the whole game from ply 5
        assert s.best_column("11223") == 3
    assert s.best_column(FULL_BOARD_DRAW[:-1]) == int(FULL_BOARD_DRAW[-1]) - 1
    for finished in ("4455667", FULL_BOARD_DRAW):
        with pytest.raises(PositionError, match="game is over"):
            s.best_column(finished)
        with pytest.raises(PositionError, match="game is over"):
            S.SolverPool(1, tt_log2=12).best_columns([S.parse_position(finished)])
