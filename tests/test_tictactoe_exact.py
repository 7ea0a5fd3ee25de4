"""Exact Tic-Tac-Toe evaluation against a slow, obviously correct recursive twin.

The twin below shares nothing with `numbaplay.eval.tictactoe_exact` but the logits table: boards are
tuples of 9 cells (0 empty, 1 first player, 2 second player), every quantity is a memoised recursion
over the game tree in pure Python, and the W/D/L of random against random is done in exact fractions.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from numbaplay.eval import tictactoe_exact as tt

ATOL = 1e-12  # fast (Numba, float64) against the recursive twin (Python floats)

LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
EMPTY = (0,) * 9
POW3 = 3 ** np.arange(9, dtype=np.int64)
OUTCOMES = ("win", "draw", "loss")


# ---------------------------------------------------------------------------------------------------
# The twin.


def winner(board):
    """1 or 2 if that player has a line, else 0."""
    for a, b, c in LINES:
        if board[a] != 0 and board[a] == board[b] == board[c]:
            return board[a]
    return 0


def to_move(board):
    """1 if the first player is to move, else 2."""
    return 1 if board.count(0) % 2 == 1 else 2


def moves(board):
    """Legal cells, in index order; none once the game is over."""
    if winner(board) or 0 not in board:
        return []
    return [c for c in range(9) if board[c] == 0]


def play(board, cell):
    new = list(board)
    new[cell] = to_move(board)
    return tuple(new)


def all_boards():
    """Every board reachable from the empty one."""
    seen, stack = {EMPTY}, [EMPTY]
    while stack:
        board = stack.pop()
        for cell in moves(board):
            child = play(board, cell)
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def minimax(board, memo):
    """+1 / 0 / -1 for the side to move."""
    if board not in memo:
        if winner(board):
            memo[board] = -1
        elif 0 not in board:
            memo[board] = 0
        else:
            memo[board] = max(-minimax(play(board, c), memo) for c in moves(board))
    return memo[board]


def perspective_code(board):
    """Base-3 code of the board from the side to move: 1 own stone, 2 opponent stone."""
    me = to_move(board)
    return sum(3**c * (0 if v == 0 else (1 if v == me else 2)) for c, v in enumerate(board))


def greedy_twin(row):
    """Policy of the first highest legal logit."""
    def policy(board):
        legal = moves(board)
        best = legal[0]
        for cell in legal:
            if row(board)[cell] > row(board)[best]:
                best = cell
        return {best: 1.0}
    return policy


def softmax_twin(row):
    """Masked softmax at temperature 1 in Python floats."""
    def policy(board):
        legal = moves(board)
        logits = [float(row(board)[c]) for c in legal]
        m = max(logits)
        z = math.log(sum(math.exp(x - m) for x in logits))
        return {c: math.exp(x - m - z) for c, x in zip(legal, logits)}
    return policy


def uniform_twin(one=1.0):
    """Uniform over the legal moves; `one=Fraction(1)` for exact arithmetic."""
    def policy(board):
        legal = moves(board)
        return {c: one / len(legal) for c in legal}
    return policy


def perfect_twin(memo):
    """Uniform over the moves that keep the minimax value."""
    def policy(board):
        keep = [c for c in moves(board) if -minimax(play(board, c), memo) == minimax(board, memo)]
        return {c: 1.0 / len(keep) for c in keep}
    return policy


def best_response(board, agent, agent_policy, memo):
    """Responder's expected return against `agent_policy`, the agent holding stones `agent`."""
    if board not in memo:
        win = winner(board)
        if win:
            memo[board] = -1.0 if win == agent else 1.0
        elif 0 not in board:
            memo[board] = 0.0
        elif to_move(board) == agent:
            memo[board] = sum(p * best_response(play(board, c), agent, agent_policy, memo)
                              for c, p in agent_policy(board).items())
        else:
            memo[board] = max(best_response(play(board, c), agent, agent_policy, memo) for c in moves(board))
    return memo[board]


def outcomes(board, agent, agent_policy, opponent_policy, memo, zero=0.0):
    """(win, draw, loss) probabilities for the agent holding stones `agent`."""
    if board not in memo:
        win = winner(board)
        if win:
            memo[board] = (zero + 1, zero, zero) if win == agent else (zero, zero, zero + 1)
        elif 0 not in board:
            memo[board] = (zero, zero + 1, zero)
        else:
            policy = agent_policy if to_move(board) == agent else opponent_policy
            total = [zero, zero, zero]
            for c, p in policy(board).items():
                child = outcomes(play(board, c), agent, agent_policy, opponent_policy, memo, zero)
                total = [t + p * x for t, x in zip(total, child)]
            memo[board] = tuple(total)
    return memo[board]


def faced(agent, greedy):
    """Non-terminal boards where the agent (stones `agent`) moves, greedy agent, opponent anything."""
    seen, found, stack = {EMPTY}, set(), [EMPTY]
    while stack:
        board = stack.pop()
        legal = moves(board)
        if not legal:
            continue
        if to_move(board) == agent:
            found.add(board)
            legal = list(greedy(board))
        for cell in legal:
            child = play(board, cell)
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return found


def twin_evaluate(row, threshold=0.01):
    """Every entry of `evaluate_tictactoe`, for the policy whose logits at a board are `row(board)`."""
    values = {}
    greedy, sampled = greedy_twin(row), softmax_twin(row)
    result = {}
    for name, policy in (("greedy", greedy), ("sampled", sampled)):
        seats = [best_response(EMPTY, agent, policy, {}) for agent in (1, 2)]
        result[f"exploitability_{name}"] = (seats[0] + seats[1]) / 2
        result[f"exploitability_{name}_first"], result[f"exploitability_{name}_second"] = seats
    result["sampled_below_threshold"] = result["exploitability_sampled"] < threshold

    def keeps(board):
        (cell,) = greedy(board)
        return -minimax(play(board, cell), values) == minimax(board, values)

    positions = faced(1, greedy) | faced(2, greedy)
    result["optimal_move_rate"] = sum(map(keeps, positions)) / len(positions)
    result["optimal_move_positions"] = len(positions)
    nonterminal = [b for b in all_boards() if moves(b)]
    result["optimal_move_rate_all"] = sum(map(keeps, nonterminal)) / len(nonterminal)
    for name, opponent in (("random", uniform_twin()), ("perfect", perfect_twin(values))):
        seats = [outcomes(EMPTY, agent, greedy, opponent, {}) for agent in (1, 2)]
        for k, outcome in enumerate(OUTCOMES):
            result[f"vs_{name}_{outcome}"] = (seats[0][k] + seats[1][k]) / 2
            result[f"vs_{name}_first_{outcome}"] = seats[0][k]
            result[f"vs_{name}_second_{outcome}"] = seats[1][k]
    result["optimal"] = (result["exploitability_greedy"] == 0 and result["exploitability_sampled"] < 0.01
                         and result["optimal_move_rate"] == 1.0)  # tictactoe_exact.provably_optimal
    return result


# ---------------------------------------------------------------------------------------------------
# Policies given as logits tables indexed by the perspective code (3^9 rows).


def table_logits_fn(table, calls=None):
    """`logits_fn` that looks every observation up in `table` (float32[3^9, 9])."""
    def logits_fn(obs, legal_mask):
        if calls is not None:
            calls.append((obs.shape, obs.dtype, legal_mask.shape, legal_mask.dtype))
        code = (obs[:, :9] + 2 * obs[:, 9:]).astype(np.int64) @ POW3
        return table[code]
    return logits_fn


def table_row(table):
    return lambda board: table[perspective_code(board)]


def perfect_table(blunder=None):
    """+1 on value-keeping moves, -1e9 on other legal ones; `blunder=(board, cell)` gives that move +2."""
    memo = {}
    table = np.zeros((3**9, 9), dtype=np.float32)
    for board in all_boards():
        for cell in moves(board):
            keep = -minimax(play(board, cell), memo) == minimax(board, memo)
            table[perspective_code(board), cell] = 1.0 if keep else -1e9
    if blunder is not None:
        board, cell = blunder
        table[perspective_code(board), cell] = 2.0
    return table


def assert_matches_twin(result, expected):
    assert set(result) == set(expected)
    for key, want in expected.items():
        got = result[key]
        assert type(got) is type(want), (key, type(got), type(want))
        if isinstance(want, float):
            assert abs(got - want) <= ATOL, (key, got, want)
        else:
            assert got == want, (key, got, want)


# ---------------------------------------------------------------------------------------------------
# Tests.


def test_enumeration_counts():
    positions = tt.enumerate_positions()
    assert positions.shape == (tt.N_LEGAL, 4) == (5478, 4)
    status = positions[:, 3]
    assert np.bincount(status).tolist() == [4520, 626, 316, 16]  # ongoing, first won, second won, draw
    assert int((status != 0).sum()) == 958
    assert tt.N_NONTERMINAL == 4520
    assert np.bincount(positions[:, 2]).tolist() == [1, 9, 72, 252, 756, 1260, 1520, 1140, 390, 78]
    assert positions[0].tolist() == [0, 0, 0, 0]
    assert np.all(np.diff(positions[:, 2]) >= 0)
    assert tt.minimax_values()[0] == 0
    assert tt.nonterminal_positions().shape == (4520, 4)


def test_enumeration_and_minimax_match_twin():
    memo = {}
    expected = {}
    for board in all_boards():
        first = sum(1 << c for c in range(9) if board[c] == 1)
        second = sum(1 << c for c in range(9) if board[c] == 2)
        win = winner(board)
        status = 0 if moves(board) else (win if win else 3)
        expected[(first, second)] = (9 - board.count(0), status, minimax(board, memo))
    positions, values = tt.enumerate_positions(), tt.minimax_values()
    got = {(int(p[0]), int(p[1])): (int(p[2]), int(p[3]), int(v)) for p, v in zip(positions, values)}
    assert got == expected


def test_observations_planar_from_side_to_move():
    # moves 1, 5, 9 (cells 0, 4, 8): first player holds 0 and 8, second holds 4, second to move
    position = np.array([[0b100000001, 0b000010000, 3, 0]], dtype=np.int64)
    obs, mask = tt.observations(position)
    assert obs.dtype == np.float32 and mask.dtype == np.uint8
    assert np.flatnonzero(obs[0]).tolist() == [4, 9, 17]
    assert mask[0].tolist() == [0, 1, 1, 1, 0, 1, 1, 1, 0]
    won = np.array([[0b000000111, 0b000011000, 5, 1]], dtype=np.int64)
    obs, mask = tt.observations(won)
    assert np.flatnonzero(obs[0]).tolist() == [3, 4, 9, 10, 11]  # second player to move
    assert mask[0].tolist() == [0] * 9


def test_logits_fn_called_once_with_every_nonterminal_position():
    calls = []
    tt.evaluate_tictactoe(table_logits_fn(np.zeros((3**9, 9), dtype=np.float32), calls))
    assert calls == [((4520, 18), np.float32, (4520, 9), np.uint8)]


def test_perfect_policy_is_unexploitable():
    table = perfect_table()
    result = tt.evaluate_tictactoe(table_logits_fn(table))
    assert result["exploitability_greedy"] == 0.0
    assert result["exploitability_greedy_first"] == 0.0 and result["exploitability_greedy_second"] == 0.0
    assert result["exploitability_sampled"] == 0.0  # exp(-1e9) is 0: uniform among value-keeping moves
    assert result["sampled_below_threshold"] is True
    assert result["optimal"] is True
    assert result["optimal_move_rate"] == 1.0
    assert result["optimal_move_rate_all"] == 1.0
    assert result["vs_random_loss"] == 0.0
    assert result["vs_perfect_win"] == 0.0 and result["vs_perfect_loss"] == 0.0
    assert abs(result["vs_perfect_draw"] - 1.0) <= ATOL  # a sum of 1/k terms
    assert_matches_twin(result, twin_evaluate(table_row(table)))


def test_uniform_logits():
    table = np.zeros((3**9, 9), dtype=np.float32)
    result = tt.evaluate_tictactoe(table_logits_fn(table))
    # Greedy then always takes the lowest empty cell, and loses from both seats:
    #   agent first:  0, R 1, 2, R 4, 3, R 7 (column 1-4-7);
    #   agent second: R 4, 0, R 3, 1, R 5 (row 3-4-5).
    assert result["exploitability_greedy_first"] == 1.0
    assert result["exploitability_greedy_second"] == 1.0
    assert result["exploitability_greedy"] == 1.0
    assert result["optimal"] is False
    assert 0.0 < result["exploitability_sampled"] < 1.0
    assert result["sampled_below_threshold"] is False
    assert_matches_twin(result, twin_evaluate(table_row(table)))


def test_random_against_random_is_exact():
    exact = [outcomes(EMPTY, agent, uniform_twin(Fraction(1)), uniform_twin(Fraction(1)), {}, Fraction(0))
             for agent in (1, 2)]
    assert exact[0] == (Fraction(737, 1260), Fraction(160, 1260), Fraction(363, 1260))
    assert exact[1] == (Fraction(363, 1260), Fraction(160, 1260), Fraction(737, 1260))
    _, mask = tt.observations(tt.nonterminal_positions())
    uniform = tt.sampled_policy(np.zeros(mask.shape, dtype=np.float32), mask)
    np.testing.assert_allclose(uniform, tt.random_policy(), rtol=0, atol=1e-15)
    for seat in (0, 1):
        got = tt.outcome_probabilities(uniform, tt.random_policy(), seat)
        assert max(abs(g - float(e)) for g, e in zip(got, exact[seat])) <= ATOL


@pytest.mark.parametrize("kind", ["normal", "ties"])
def test_matches_twin_on_random_logits(kind):
    rng = np.random.default_rng(20240611 if kind == "normal" else 7)
    if kind == "normal":
        table = rng.normal(0.0, 2.0, size=(3**9, 9)).astype(np.float32)
    else:  # few distinct values: many greedy ties, resolved to the lowest cell
        table = rng.integers(0, 3, size=(3**9, 9)).astype(np.float32)
    result = tt.evaluate_tictactoe(table_logits_fn(table))
    assert_matches_twin(result, twin_evaluate(table_row(table)))


def test_one_blunder_is_exploitable():
    # After the first player takes a corner, only the centre draws; the agent answers on the edge.
    corner = (1, 0, 0, 0, 0, 0, 0, 0, 0)
    table = perfect_table(blunder=(corner, 1))
    result = tt.evaluate_tictactoe(table_logits_fn(table))
    assert result["exploitability_greedy_first"] == 0.0
    assert result["exploitability_greedy_second"] == 1.0
    assert result["exploitability_greedy"] == 0.5
    assert result["optimal"] is False
    assert result["exploitability_sampled_second"] > 0.0
    n = result["optimal_move_positions"]
    assert result["optimal_move_rate"] == (n - 1) / n
    assert result["optimal_move_rate_all"] == 4519 / 4520
    # the perfect player opens in the corner with probability 1/9 and then always wins
    assert abs(result["vs_perfect_second_loss"] - 1 / 9) <= ATOL
    assert abs(result["vs_perfect_second_draw"] - 8 / 9) <= ATOL
    assert_matches_twin(result, twin_evaluate(table_row(table)))


def test_rejects_bad_logits():
    def nan_fn(obs, legal_mask):
        logits = np.zeros(legal_mask.shape, dtype=np.float32)
        logits[5, np.flatnonzero(legal_mask[5])[0]] = np.nan
        return logits

    with pytest.raises(ValueError, match="NaN"):
        tt.evaluate_tictactoe(nan_fn)
    with pytest.raises(ValueError, match="shape"):
        tt.evaluate_tictactoe(lambda obs, legal_mask: np.zeros((4520, 7), dtype=np.float32))
    # illegal entries are ignored whatever they hold
    result = tt.evaluate_tictactoe(lambda obs, legal_mask: np.where(legal_mask == 1, 0.0, np.nan))
    assert result["exploitability_greedy"] == 1.0


@pytest.mark.parametrize("kind", ["normal", "ties", "float64 with -inf"])
def test_policies_kernel_matches_numpy_policies(kind):
    # The evaluation's one-pass kernel against `greedy_policy` and `sampled_policy` (vectorised NumPy):
    # the greedy policy and action exactly, the sampled policy to within a few roundings (NumPy's
    # vectorised exp and log against libm's).
    rng = np.random.default_rng(11)
    graph = tt._get_graph()
    mask = graph["mask"]
    if kind == "ties":
        logits = rng.integers(0, 3, size=mask.shape).astype(np.float32)
    else:
        logits = rng.normal(0.0, 3.0, size=mask.shape).astype(np.float32 if kind == "normal" else np.float64)
    if kind == "float64 with -inf":  # a legal move the network rules out entirely keeps probability 0
        rows = np.flatnonzero(mask.sum(axis=1) > 1)[::7]
        logits[rows, np.argmax(mask[rows] != 0, axis=1)] = -np.inf
    full_greedy = np.zeros((tt.N_LEGAL, 9))
    full_sampled = np.zeros((tt.N_LEGAL, 9))
    action = np.zeros(tt.N_LEGAL, dtype=np.int64)
    bad, dead = tt._policies_kernel(logits.astype(np.float64), mask, graph["nonterminal"], full_greedy,
                                    full_sampled, action)
    assert (bad, dead) == (0, 0)
    rows = graph["nonterminal"]
    greedy = tt.greedy_policy(logits, mask)
    np.testing.assert_array_equal(full_greedy[rows], greedy)
    np.testing.assert_array_equal(action[rows], np.argmax(greedy, axis=1))
    np.testing.assert_allclose(full_sampled[rows], tt.sampled_policy(logits, mask), rtol=2e-15, atol=0)
    terminal = np.setdiff1d(np.arange(tt.N_LEGAL), rows)
    assert not full_greedy[terminal].any() and not full_sampled[terminal].any() and not action[terminal].any()
    assert np.all((full_sampled[rows] == 0) == ((mask == 0) | np.isneginf(logits)))


def test_policies_kernel_counts_bad_rows():
    graph = tt._get_graph()
    mask = graph["mask"]
    logits = np.zeros(mask.shape)
    legal = [np.flatnonzero(mask[i]) for i in range(3)]
    logits[0, legal[0][0]] = np.nan
    logits[1, legal[1][-1]] = np.inf
    logits[2, legal[2]] = -np.inf  # no finite legal logit
    logits[3, np.flatnonzero(mask[3] == 0)] = np.nan  # illegal entries are ignored
    out = (np.zeros((tt.N_LEGAL, 9)), np.zeros((tt.N_LEGAL, 9)), np.zeros(tt.N_LEGAL, dtype=np.int64))
    assert tt._policies_kernel(logits, mask, graph["nonterminal"], *out) == (2, 1)
