"""Exact strength of a Tic-Tac-Toe policy (SPEC section 7), by enumerating every legal position.

Tic-Tac-Toe has 5,478 legal positions (958 terminal, 4,520 non-terminal), so a policy can be scored
without sampling. Positions are `int64[4]` rows as in docs/ALGORITHM.md: bitboard of the first
player's stones, bitboard of the second player's, ply, status (0 ongoing, 1 first player won, 2 second
player won, 3 draw). They are sorted by (ply, first bitboard, second bitboard), so every child comes
after its parent and one backward sweep over the rows solves the whole game graph.

With `pi` the agent's move distribution and seat s the agent's seat, the quantities are:

- minimax value for the side to move: `v(x) = -1` on a decided terminal x (the previous mover won), 0
  on a draw, else `v(x) = max_a -v(child(x, a))`;
- best-response value (the exploitability of `pi` from seat s), in float64 from the responder's side:
  `B(x) = sum_a pi(a | x) B(child)` where the agent moves, `max_a B(child)` where the responder moves,
  the responder's payoff (win 1, draw 0, loss -1) at terminals; read at the empty board. It is the
  expectimax of Johanson et al., "Accelerating best response calculation in large extensive games"
  (IJCAI 2011), which for a game this small is the full tree walk;
- W/D/L probabilities of the agent against an opponent distribution `sigma`: the same sweep with
  `sigma` in place of the max, carrying three outcome probabilities instead of a payoff.

The greedy policy is the argmax of the legal logits (ties to the lowest index); the sampled policy is
the masked softmax of SPEC section 4 at temperature 1, evaluated in float64. The "perfect" opponent
plays uniformly among the moves that keep the minimax value.
"""
from __future__ import annotations

import numpy as np
from numba import njit

N_CELLS = 9
N_LEGAL = 5478
N_NONTERMINAL = 4520

STATUS_ONGOING, STATUS_FIRST_WON, STATUS_SECOND_WON, STATUS_DRAW = 0, 1, 2, 3

_LINES = (0b000000111, 0b000111000, 0b111000000, 0b001001001,
          0b010010010, 0b100100100, 0b100010001, 0b001010100)
_FULL = 0b111111111

_graph: dict | None = None


def _has_line(bb: int) -> bool:
    """True if the bitboard `bb` holds a complete row, column or diagonal."""
    return any(bb & line == line for line in _LINES)


def _status(first: int, second: int) -> int:
    """Status of the position with these bitboards (only one side can have a line in a legal one)."""
    if _has_line(first):
        return STATUS_FIRST_WON
    if _has_line(second):
        return STATUS_SECOND_WON
    if (first | second) == _FULL:
        return STATUS_DRAW
    return STATUS_ONGOING


def _build_graph() -> dict:
    """Enumerate the positions reachable from the empty board and link each to its children."""
    seen = {(0, 0)}
    frontier = [(0, 0)]
    for ply in range(N_CELLS):
        nxt = []
        for first, second in frontier:
            if _status(first, second) != STATUS_ONGOING:
                continue
            occupied = first | second
            for cell in range(N_CELLS):
                bit = 1 << cell
                if occupied & bit:
                    continue
                child = (first | bit, second) if ply % 2 == 0 else (first, second | bit)
                if child not in seen:
                    seen.add(child)
                    nxt.append(child)
        frontier = nxt
    keys = sorted(seen, key=lambda k: ((k[0] | k[1]).bit_count(), k[0], k[1]))
    index = {key: i for i, key in enumerate(keys)}
    n = len(keys)
    positions = np.zeros((n, 4), dtype=np.int64)
    children = np.full((n, N_CELLS), -1, dtype=np.int64)
    for i, (first, second) in enumerate(keys):
        ply = (first | second).bit_count()
        status = _status(first, second)
        positions[i] = (first, second, ply, status)
        if status != STATUS_ONGOING:
            continue
        for cell in range(N_CELLS):
            bit = 1 << cell
            if (first | second) & bit:
                continue
            child = (first | bit, second) if ply % 2 == 0 else (first, second | bit)
            children[i, cell] = index[child]
    if n != N_LEGAL:
        raise AssertionError(f"enumerated {n} Tic-Tac-Toe positions, expected {N_LEGAL}")

    ply = np.ascontiguousarray(positions[:, 2])
    status = np.ascontiguousarray(positions[:, 3])
    value = np.zeros(n, dtype=np.int64)
    _minimax_kernel(value, children, status)
    legal = children >= 0
    keeps = legal & (-value[np.maximum(children, 0)] == value[:, None])
    nonterminal = np.flatnonzero(status == STATUS_ONGOING)
    if nonterminal.size != N_NONTERMINAL:
        raise AssertionError(f"found {nonterminal.size} non-terminal positions, expected {N_NONTERMINAL}")
    obs, mask = observations(positions[nonterminal])
    graph = {
        "positions": positions,
        "children": children,
        "ply": ply,
        "status": status,
        "value": value.astype(np.int8),
        "nonterminal": nonterminal,
        "obs": obs,
        "mask": mask,
        "random": _uniform_over(legal),
        "perfect": _uniform_over(keeps),
    }
    for array in graph.values():
        array.setflags(write=False)
    return graph


def _uniform_over(allowed: np.ndarray) -> np.ndarray:
    """float64[N, 9]: uniform over the True entries of each row (zeros on rows with none)."""
    count = allowed.sum(axis=1, keepdims=True)
    return np.where(allowed, 1.0 / np.maximum(count, 1), 0.0)


def _get_graph() -> dict:
    """The position graph, built once per process."""
    global _graph
    if _graph is None:
        _graph = _build_graph()
    return _graph


# ---------------------------------------------------------------------------------------------------
# Kernels: one backward (or forward) sweep over the rows, children always at higher indices.


@njit(cache=True)
def _minimax_kernel(value, children, status):
    """Win/draw/loss value (+1/0/-1) of every position for its side to move.

    value: int64[N] out; children: int64[N, 9] (-1 where no move); status: int64[N].
    """
    n = children.shape[0]
    for i in range(n - 1, -1, -1):
        if status[i] == 3:
            value[i] = 0
        elif status[i] != 0:
            value[i] = -1  # the previous mover completed a line
        else:
            best = -1
            for a in range(children.shape[1]):
                c = children[i, a]
                if c >= 0 and -value[c] > best:
                    best = -value[c]
            value[i] = best


@njit(cache=True)
def _terminal_outcome(status, agent_seat):
    """0 agent won, 1 draw, 2 agent lost, for a terminal status and the agent's seat (0 or 1)."""
    if status == 3:
        return 1
    if (status == 1) == (agent_seat == 0):
        return 0
    return 2


@njit(cache=True)
def _best_response_kernel(value, agent_policy, children, ply, status, agent_seat):
    """Expectimax value for a best responder against `agent_policy`, from the responder's side.

    value: float64[N] out; agent_policy: float64[N, 9] (rows of non-terminal positions sum to 1);
    children: int64[N, 9]; ply, status: int64[N]; agent_seat: 0 first, 1 second.
    """
    n = children.shape[0]
    for i in range(n - 1, -1, -1):
        if status[i] != 0:
            outcome = _terminal_outcome(status[i], agent_seat)
            value[i] = 1.0 if outcome == 2 else (0.0 if outcome == 1 else -1.0)
        elif ply[i] % 2 == agent_seat:
            total = 0.0
            for a in range(children.shape[1]):
                c = children[i, a]
                if c >= 0:
                    total += agent_policy[i, a] * value[c]
            value[i] = total
        else:
            best = -np.inf
            for a in range(children.shape[1]):
                c = children[i, a]
                if c >= 0 and value[c] > best:
                    best = value[c]
            value[i] = best


@njit(cache=True)
def _outcome_kernel(wdl, agent_policy, opponent_policy, children, ply, status, agent_seat):
    """Probabilities that the agent wins, draws, loses from every position, both sides stochastic.

    wdl: float64[N, 3] out; agent_policy, opponent_policy: float64[N, 9]; children: int64[N, 9];
    ply, status: int64[N]; agent_seat: 0 first, 1 second.
    """
    n = children.shape[0]
    for i in range(n - 1, -1, -1):
        for k in range(3):
            wdl[i, k] = 0.0
        if status[i] != 0:
            wdl[i, _terminal_outcome(status[i], agent_seat)] = 1.0
            continue
        policy = agent_policy if ply[i] % 2 == agent_seat else opponent_policy
        for a in range(children.shape[1]):
            c = children[i, a]
            if c >= 0:
                for k in range(3):
                    wdl[i, k] += policy[i, a] * wdl[c, k]


@njit(cache=True)
def _reach_kernel(reached, agent_action, children, ply, status, agent_seat):
    """Mark the positions reachable when the agent plays `agent_action` and the opponent anything.

    reached: uint8[N] out; agent_action: int64[N] (cell, used on the agent's non-terminal rows);
    children: int64[N, 9]; ply, status: int64[N]; agent_seat: 0 first, 1 second.
    """
    reached[:] = 0
    reached[0] = 1  # row 0 is the empty board
    for i in range(children.shape[0]):
        if reached[i] == 0 or status[i] != 0:
            continue
        if ply[i] % 2 == agent_seat:
            reached[children[i, agent_action[i]]] = 1
        else:
            for a in range(children.shape[1]):
                c = children[i, a]
                if c >= 0:
                    reached[c] = 1


@njit(cache=True)
def _policies_kernel(logits, mask, rows, full_greedy, full_sampled, greedy_action):
    """The greedy and sampled policies of `greedy_policy` and `sampled_policy`, scattered over all
    positions, in one pass over the logits; returns (rows with a NaN or +inf legal logit, rows with no
    finite legal logit), and the outputs are complete only when both are 0.

    logits: float64[n, 9]; mask: uint8[n, 9]; rows: int64[n] (the row of each in the full graph);
    out full_greedy, full_sampled: float64[N, 9] (zero on the rows not listed); out greedy_action:
    int64[N] (0 on the rows not listed). The sampled row follows `sampled_policy`: shift by the legal
    maximum, the normaliser summed in NumPy's order for nine terms, exp(shifted - log z).
    """
    n, a = logits.shape
    bad = 0
    dead = 0
    e = np.zeros(a, dtype=np.float64)
    for i in range(n):
        best = -np.inf
        arg = -1
        row_bad = False
        for c in range(a):
            if mask[i, c] != 0:
                v = logits[i, c]
                if np.isnan(v) or v == np.inf:
                    row_bad = True
                elif v > best:
                    best = v
                    arg = c
        if row_bad:
            bad += 1
            continue
        if best == -np.inf:
            dead += 1
            continue
        r = rows[i]
        full_greedy[r, arg] = 1.0
        greedy_action[r] = arg
        for c in range(a):
            e[c] = np.exp(logits[i, c] - best) if mask[i, c] != 0 else 0.0
        if a == 9:  # NumPy's pairwise order for a row of nine: eight in a tree, then the ninth
            z = ((e[0] + e[1]) + (e[2] + e[3])) + ((e[4] + e[5]) + (e[6] + e[7])) + e[8]
        else:
            z = 0.0
            for c in range(a):
                z += e[c]
        log_z = np.log(z)
        for c in range(a):
            if mask[i, c] != 0:
                full_sampled[r, c] = np.exp((logits[i, c] - best) - log_z)
    return bad, dead


# ---------------------------------------------------------------------------------------------------
# Public helpers.


def enumerate_positions() -> np.ndarray:
    """int64[5478, 4] (read-only): every legal position as (first bitboard, second bitboard, ply, status),
    sorted by ply, then by the first player's bitboard, then by the second's; row 0 is the empty board."""
    return _get_graph()["positions"]


def nonterminal_positions() -> np.ndarray:
    """int64[4520, 4] (a copy): the non-terminal rows of `enumerate_positions()`, in the same order;
    `logits_fn` and every policy array in this module use this order."""
    graph = _get_graph()
    return graph["positions"][graph["nonterminal"]]


def minimax_values() -> np.ndarray:
    """int8[5478] (read-only): win (1), draw (0) or loss (-1) for the side to move of each position."""
    return _get_graph()["value"]


def observations(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Network inputs of SPEC section 2 for int64[n, 4] position rows.

    Returns obs float32[n, 18] (planes of the side to move, then of the opponent; cells row-major) and
    legal_mask uint8[n, 9] (all zero on a terminal position).
    """
    positions = np.asarray(positions, dtype=np.int64)
    if positions.ndim != 2 or positions.shape[1] != 4:
        raise ValueError(f"positions must have shape (n, 4), got {positions.shape}")
    bits = 1 << np.arange(N_CELLS, dtype=np.int64)
    first_to_move = positions[:, 2] % 2 == 0
    mine = np.where(first_to_move, positions[:, 0], positions[:, 1])
    theirs = np.where(first_to_move, positions[:, 1], positions[:, 0])
    obs = np.empty((positions.shape[0], 2 * N_CELLS), dtype=np.float32)
    obs[:, :N_CELLS] = (mine[:, None] & bits) != 0
    obs[:, N_CELLS:] = (theirs[:, None] & bits) != 0
    empty = ((positions[:, 0] | positions[:, 1])[:, None] & bits) == 0
    mask = (empty & (positions[:, 3] == STATUS_ONGOING)[:, None]).astype(np.uint8)
    return obs, mask


def _shaped_logits(logits, legal_mask: np.ndarray) -> np.ndarray:
    """logits as an array, after checking that its shape is the mask's."""
    logits = np.asarray(logits)
    if logits.shape != legal_mask.shape:
        raise ValueError(f"logits have shape {logits.shape}, expected {legal_mask.shape}")
    return logits


def _check_rows(bad: int, dead: int) -> None:
    """ValueError for `bad` rows with a NaN or +inf legal logit, else for `dead` rows with no finite one."""
    if bad:
        raise ValueError(f"{bad} positions have a NaN or +inf logit on a legal move")
    if dead:
        raise ValueError(f"{dead} positions have no legal move with a finite logit")


def _legal_logits(logits, legal_mask: np.ndarray) -> np.ndarray:
    """float64 logits with -inf on illegal moves, after checking shape and finiteness."""
    logits = _shaped_logits(logits, legal_mask)
    values = np.where(legal_mask != 0, logits.astype(np.float64), -np.inf)
    bad = np.isnan(values) | (values == np.inf)
    _check_rows(int(bad.any(axis=1).sum()), 0)  # before the max, which a NaN would spoil
    _check_rows(0, int((~np.isfinite(values.max(axis=1))).sum()))
    return values


def greedy_policy(logits, legal_mask: np.ndarray) -> np.ndarray:
    """float64[n, 9]: one-hot on the argmax of the legal logits, ties to the lowest index."""
    values = _legal_logits(logits, legal_mask)
    policy = np.zeros(values.shape, dtype=np.float64)
    policy[np.arange(values.shape[0]), np.argmax(values, axis=1)] = 1.0
    return policy


def sampled_policy(logits, legal_mask: np.ndarray) -> np.ndarray:
    """float64[n, 9]: masked softmax at temperature 1 (SPEC section 4), illegal moves exactly 0."""
    values = _legal_logits(logits, legal_mask)
    shifted = values - values.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return np.where(legal_mask != 0, np.exp(shifted - log_z), 0.0)


def random_policy() -> np.ndarray:
    """float64[4520, 9]: uniform over the legal moves."""
    graph = _get_graph()
    return graph["random"][graph["nonterminal"]]


def perfect_policy() -> np.ndarray:
    """float64[4520, 9]: uniform over the moves that keep the minimax value."""
    graph = _get_graph()
    return graph["perfect"][graph["nonterminal"]]


def _full_policy(policy, name: str) -> np.ndarray:
    """Scatter a float64[4520, 9] policy over the non-terminal rows into float64[5478, 9]."""
    graph = _get_graph()
    policy = np.asarray(policy, dtype=np.float64)
    if policy.shape != (N_NONTERMINAL, N_CELLS):
        raise ValueError(f"{name} must have shape ({N_NONTERMINAL}, {N_CELLS}), got {policy.shape}")
    if np.any(policy[graph["mask"] == 0] != 0):
        raise ValueError(f"{name} puts probability on an illegal move")
    full = np.zeros((N_LEGAL, N_CELLS), dtype=np.float64)
    full[graph["nonterminal"]] = policy
    return full


def _check_seat(agent_seat: int) -> int:
    if agent_seat not in (0, 1):
        raise ValueError(f"agent_seat must be 0 (first) or 1 (second), got {agent_seat}")
    return int(agent_seat)


def best_response_value(policy, agent_seat: int) -> float:
    """Expected return (win 1, draw 0, loss -1) of a best responder against `policy` (float64[4520, 9],
    rows in `nonterminal_positions()` order) playing seat `agent_seat` (0 first, 1 second)."""
    return _best_response(_full_policy(policy, "policy"), _check_seat(agent_seat))


def _best_response(full_policy: np.ndarray, agent_seat: int) -> float:
    graph = _get_graph()
    value = np.empty(N_LEGAL, dtype=np.float64)
    _best_response_kernel(value, full_policy, graph["children"], graph["ply"], graph["status"], agent_seat)
    return float(value[0])


def outcome_probabilities(policy, opponent_policy, agent_seat: int) -> tuple[float, float, float]:
    """(win, draw, loss) probabilities of the agent playing `policy` from seat `agent_seat` against
    `opponent_policy`; both float64[4520, 9] in `nonterminal_positions()` order."""
    return _outcomes(_full_policy(policy, "policy"), _full_policy(opponent_policy, "opponent_policy"),
                     _check_seat(agent_seat))


def _outcomes(full_policy: np.ndarray, full_opponent: np.ndarray, agent_seat: int) -> tuple[float, float, float]:
    graph = _get_graph()
    wdl = np.empty((N_LEGAL, 3), dtype=np.float64)
    _outcome_kernel(wdl, full_policy, full_opponent, graph["children"], graph["ply"], graph["status"],
                    agent_seat)
    return float(wdl[0, 0]), float(wdl[0, 1]), float(wdl[0, 2])


def _optimal_moves(greedy_action_full: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keeps, faced): bool[5478] whether the greedy move keeps the minimax value (False on terminal
    rows), and bool[5478] whether the position is one the greedy agent faces from either seat."""
    graph = _get_graph()
    children, value, status = graph["children"], graph["value"].astype(np.int64), graph["status"]
    ongoing = status == STATUS_ONGOING
    child = children[np.arange(N_LEGAL), greedy_action_full]
    keeps = ongoing & (-value[np.maximum(child, 0)] == value)
    faced = np.zeros(N_LEGAL, dtype=bool)
    reached = np.empty(N_LEGAL, dtype=np.uint8)
    for seat in (0, 1):
        _reach_kernel(reached, greedy_action_full, children, graph["ply"], status, seat)
        faced |= (reached != 0) & ongoing & (graph["ply"] % 2 == seat)
    return keeps, faced


def evaluate_tictactoe(logits_fn, sampled_threshold: float = 0.01) -> dict:
    """Exact strength of a policy network on Tic-Tac-Toe (SPEC section 7).

    `logits_fn(obs float32[n, 18], legal_mask uint8[n, 9]) -> float32[n, 9]` is called once with the
    4,520 non-terminal positions. Returns plain floats, ints and bools: exploitability of the greedy
    and sampled policies (mean over seats and per seat), the optimal-move rates, and exact W/D/L of the
    greedy agent against uniform random and against a perfect player (mean over seats and per seat).
    """
    graph = _get_graph()
    mask = graph["mask"]
    logits = _shaped_logits(logits_fn(graph["obs"].copy(), mask.copy()), mask)
    full_greedy = np.zeros((N_LEGAL, N_CELLS), dtype=np.float64)
    full_sampled = np.zeros((N_LEGAL, N_CELLS), dtype=np.float64)
    greedy_action = np.zeros(N_LEGAL, dtype=np.int64)
    bad, dead = _policies_kernel(np.ascontiguousarray(logits, dtype=np.float64), mask, graph["nonterminal"],
                                 full_greedy, full_sampled, greedy_action)
    _check_rows(bad, dead)

    result: dict = {}
    seat_names = ("first", "second")
    for name, full in (("greedy", full_greedy), ("sampled", full_sampled)):
        per_seat = [_best_response(full, seat) for seat in (0, 1)]
        result[f"exploitability_{name}"] = (per_seat[0] + per_seat[1]) / 2.0
        for seat, value in zip(seat_names, per_seat):
            result[f"exploitability_{name}_{seat}"] = value
    result["sampled_below_threshold"] = bool(result["exploitability_sampled"] < sampled_threshold)

    keeps, faced = _optimal_moves(greedy_action)
    n_faced = int(faced.sum())
    result["optimal_move_rate"] = float((keeps & faced).sum() / n_faced)
    result["optimal_move_positions"] = n_faced
    result["optimal_move_rate_all"] = float(keeps.sum() / N_NONTERMINAL)

    for opponent_name in ("random", "perfect"):
        full_opponent = graph[opponent_name]  # already over all positions, zero on terminal ones
        per_seat = [_outcomes(full_greedy, full_opponent, seat) for seat in (0, 1)]
        outcomes = ("win", "draw", "loss")
        for k, outcome in enumerate(outcomes):
            result[f"vs_{opponent_name}_{outcome}"] = (per_seat[0][k] + per_seat[1][k]) / 2.0
        for seat, wdl in zip(seat_names, per_seat):
            for k, outcome in enumerate(outcomes):
                result[f"vs_{opponent_name}_{seat}_{outcome}"] = wdl[k]

    result["optimal"] = provably_optimal(result)
    return result


def provably_optimal(result: dict) -> bool:
    """Optimal play, the acceptance test (and --until-optimal's): greedy exploitability exactly 0, sampled
    exploitability below the evaluator's threshold (0.01 by default) and a 100% optimal-move rate. Greedy
    exploitability 0 alone means that no opponent beats the greedy policy, not that it never gives away
    a win."""
    return (result.get("exploitability_greedy") == 0.0 and bool(result.get("sampled_below_threshold"))
            and result.get("optimal_move_rate") == 1.0)
