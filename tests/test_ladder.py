"""Reference players, the match engine, the stored ladder and the Connect Four evaluation."""
import json

import naive
import numba
import numpy as np
import pytest

from numbaplay.agent import Agent
from numbaplay.eval import connect4_eval as c4e
from numbaplay.eval import solver as S
from numbaplay.eval.ladder import LADDER_PATH, OPENINGS_VERSION, load_ladder, openings, play_match
from numbaplay.eval.players import PLAYERS, AgentPlayer, PerfectPlayer, make_player
from numbaplay.eval.solver import Solver
from numbaplay.games.core import get_game, is_legal, parse_position, play
from numbaplay.nn.params import NetSpec, init_params
from numbaplay.rng import EVAL, key_below, stream_key

GAME = get_game("connect4")
JIT = not numba.config.DISABLE_JIT
KERNEL_PLAYERS = [name for name in PLAYERS if name != "perfect"]


def random_positions(n, seed=0):
    """n (move string, state) pairs of ongoing positions from uniformly random games."""
    out = []
    g = 0
    while len(out) < n:
        key = np.uint64(stream_key(np.uint64(seed), EVAL, 1, g))
        state = GAME.new_states(1)[0]
        moves = ""
        for ply in range(42):
            legal = [a for a in range(7) if is_legal(GAME.gid, state, a)]
            a = legal[key_below(key, ply, len(legal))]
            play(GAME.gid, state, a)
            moves += str(a + 1)
            if state[3] != 0:
                break
            if ply % 3 == 1:
                out.append((moves, state.copy()))
        g += 1
    return out[:n]


def test_openings_are_the_49_two_ply_openings():
    ops = openings()
    assert ops.shape == (49, 2) and len({tuple(o) for o in ops}) == 49
    assert OPENINGS_VERSION == "c4-2ply-v1"


@pytest.mark.parametrize("name", KERNEL_PLAYERS)
def test_kernel_players_choose_legal_moves(name):
    positions = random_positions(300)
    states = np.stack([s for _, s in positions])
    moves = make_player(name).select(states, np.arange(len(states)), seed=3)
    assert all(is_legal(GAME.gid, s, int(a)) for s, a in zip(states, moves))


def test_random_player_is_uniform_and_seeded():
    states = np.zeros((7000, 4), dtype=np.int64)
    player = make_player("random")
    a = player.select(states, np.arange(7000), seed=1)
    assert np.array_equal(a, player.select(states, np.arange(7000), seed=1))
    assert not np.array_equal(a, player.select(states, np.arange(7000), seed=2))
    counts = np.bincount(a, minlength=7)
    assert counts.min() > 850 and counts.max() < 1150


def test_many_games_of_every_player_stay_legal():
    """The match engine raises on an illegal move; every game ends in a legal final position."""
    rnd = make_player("random")
    for name in ["random", "heuristic", "ab1", "ab3"]:
        result = play_match(make_player(name), rnd, repeats=3, seed=7)
        assert result.games == 49 * 2 * 3
        assert result.plies.min() >= 7 and result.plies.max() <= 42
        assert set(np.unique(result.scores)) <= {0.0, 0.5, 1.0}


# Positions (1-based move strings), side to move, and the column (0-based) it must play.
# X: a, a, a in column 1 (vertical three); O: columns 2-4 on the bottom row, threatening column 5.
WIN_OVER_BLOCK = "121314"
# X: columns 1 and 7; O: columns 2-4 on the bottom row, threatening column 5 only. X cannot win.
BLOCK = "127374"


@pytest.mark.parametrize("name", ["heuristic", "ab1", "ab2", "ab5", "ab8"])
def test_players_win_now_and_block(name):
    player = make_player(name)
    for moves, expected in ((WIN_OVER_BLOCK, 0), (BLOCK, 4)):
        state = parse_position(GAME, moves)
        assert player.select(state[None], np.zeros(1, np.int64), 0)[0] == expected, moves


def test_heuristic_prefers_the_centre_then_the_lower_column():
    player = make_player("heuristic")
    assert player.select(np.zeros((1, 4), np.int64), np.zeros(1, np.int64), 0)[0] == 3
    state = parse_position(GAME, "444444")  # centre column full: columns 3 and 5 are equally central
    assert player.select(state[None], np.zeros(1, np.int64), 0)[0] == 2


def test_deeper_search_beats_shallower_over_the_openings():
    for deep, shallow in (("ab4", "ab1"), ("ab5", "ab2")):
        result = play_match(make_player(deep), make_player(shallow))
        assert result.games == 98
        assert result.scores.sum() > 0.6 * result.games, (deep, shallow, result.wdl())
    result = play_match(make_player("heuristic"), make_player("random"), repeats=2)
    assert result.scores.sum() > 0.9 * result.games


def test_match_results_are_reproducible_and_colour_balanced():
    a = play_match(make_player("ab2"), make_player("random"), repeats=2, seed=4)
    b = play_match(make_player("ab2"), make_player("random"), repeats=2, seed=4)
    assert np.array_equal(a.scores, b.scores)
    assert a.scores.shape == (49, 2, 2)
    # deterministic players: swapping the seats of a pairing swaps colours, same games, complementary scores
    d = play_match(make_player("ab2"), make_player("ab3"))
    e = play_match(make_player("ab3"), make_player("ab2"))
    assert d.scores.shape == (49, 2, 1)
    assert np.array_equal(e.scores[:, ::-1, :], 1.0 - d.scores)


def test_perfect_player_plays_a_best_scoring_move():
    solver = Solver()
    player = PerfectPlayer(min_ply=0)
    moves, _ = c4e.load_pons_set("end-easy")
    ties = 0
    for m in moves[:15]:
        state = parse_position(GAME, m)
        col = int(player.select(state[None], np.zeros(1, np.int64), 0)[0])
        scores = solver.analyze(m)
        best = max(s for s in scores if s is not None)
        # the best score, and among tied columns the most central one (centre first, ties to the lower)
        assert col == next(c for c in (3, 2, 4, 1, 5, 0, 6) if scores[c] == best), (m, scores, col)
        ties += sum(s == best for s in scores) > 1
    assert ties >= 3  # the tie-break was exercised


def tiny_agent(seed=0):
    spec = NetSpec("mlp", GAME.obs_size, 16, 1, GAME.n_actions)
    return Agent("connect4", spec, init_params(spec, seed))


def test_agent_wrapper_is_greedy_and_batched():
    agent = tiny_agent(1)
    positions = random_positions(80, seed=5)
    states = np.stack([s for _, s in positions])
    chosen = AgentPlayer(agent).select(states, np.arange(len(states)), 0)
    assert [int(a) for a in chosen] == [agent.greedy_action(m) for m, _ in positions]

    calls = []

    def counting(obs, mask):
        calls.append(obs.shape[0])
        return agent.logits_fn(obs, mask)

    result = play_match(AgentPlayer(counting), make_player("heuristic"))
    after_opening = result.plies - 2
    # colour 0: the agent moves at plies 2, 4, ...; colour 1 at plies 3, 5, ...
    agent_moves = ((after_opening[:, 0] + 1) // 2).sum() + (after_opening[:, 1] // 2).sum()
    assert sum(calls) == agent_moves
    assert len(calls) <= 40  # one forward pass per ply, whatever the number of games


def test_mistake_rate_equals_a_slow_recomputation(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBAPLAY_CACHE", str(tmp_path / "cache"))
    # Without the shipped tables, so that the rows are solved here, saved, and read back below (with them,
    # nothing would be solved and the cache check at the end could not fail).
    monkeypatch.setattr(c4e, "SHIPPED_DIR", tmp_path / "no-shipped-tables")
    solved = []
    real_move_outcomes = c4e.move_outcomes
    monkeypatch.setattr(c4e, "move_outcomes", lambda *a, **k: solved.append(a[0]) or real_move_outcomes(*a, **k))
    agent = tiny_agent(2)
    limit = 25
    fast = c4e.mistake_rates(agent, ["end-easy", "Test_L2_R1"], limit=limit)
    assert len(solved) == 2 * limit  # every position of both sets solved once
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2  # and each set's table saved
    solver = Solver()
    for name in ("end-easy", "middle-easy"):
        moves, _ = c4e.load_pons_set(name)
        mistakes = possible = 0
        for m in moves[:limit]:
            scores = solver.analyze(m)
            outcome = {c: (s > 0) - (s < 0) for c, s in enumerate(scores) if s is not None}
            best = max(outcome.values())
            mistakes += outcome[agent.greedy_action(m)] < best
            possible += min(outcome.values()) < best
        assert fast[f"mistakes/{name}/rate"] == mistakes / limit
        assert fast[f"mistakes/{name}/possible"] == possible
        assert fast[f"mistakes/{name}/positions"] == limit
        # the best move's outcome is the sign of the set's stored exact score
        table = c4e.outcome_table(name, limit)
        _, stored = c4e.load_pons_set(name)
        assert np.array_equal(np.where(table != c4e.ILLEGAL, table, -9).max(axis=1), np.sign(stored[:limit]))
    # a second evaluation reads the cached outcome tables and solves nothing
    monkeypatch.setattr(c4e, "move_outcomes", lambda *a, **k: pytest.fail("cache not used"))
    assert c4e.mistake_rates(agent, ["end-easy", "middle-easy"], limit=limit) == fast


def test_mistake_counts_rules():
    # columns: win, draw, loss, illegal, ...
    outcomes = np.array([[1, 0, -1, -2, -1, -1, -1],
                         [0, 0, 0, 0, 0, 0, 0],
                         [-1, 0, -2, -2, -2, -2, -2]], dtype=np.int8)
    assert c4e.mistake_counts(np.array([1, 3, 0]), outcomes) == (2, 2)
    assert c4e.mistake_counts(np.array([0, 0, 1]), outcomes) == (0, 2)


def test_stored_ladder_loads():
    ladder = load_ladder()
    assert ladder["version"] == "ladder-v1" and ladder["openings"]["version"] == OPENINGS_VERSION
    by_name = {p["name"]: p for p in ladder["players"]}
    assert list(by_name) == list(PLAYERS)
    assert by_name["random"]["rating"] == 0.0
    assert by_name["ab8"]["rating"] > by_name["heuristic"]["rating"] + 300
    names = ladder["results"]["players"]
    n = len(names)
    for i in range(n):
        for j in range(n):
            if i != j:
                assert ladder["results"]["score"][i][j] + ladder["results"]["score"][j][i] == \
                    ladder["results"]["games"][i][j]
    assert LADDER_PATH.name == "ladder-v1.json"
    # the stored per-opening results refit to the stored ratings
    from numbaplay.eval import elo

    index = {name: k for k, name in enumerate(names)}
    pairings = [elo.Pairing(index[p["a"]], index[p["b"]], np.array(p["opening_scores"]), 2 * p["repeats"])
                for p in ladder["pairings"]]
    refit = elo.fit_ladder(n, pairings, names=names, resamples=100)
    for r, stored in zip(refit, ladder["players"]):
        assert r.to_json()["rating"] == stored["rating"] and r.bound == stored["bound"]


def test_evaluate_connect4_on_an_untrained_agent(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBAPLAY_CACHE", str(tmp_path))
    result = c4e.evaluate_connect4(tiny_agent(3), members=["random", "heuristic", "ab1"],
                                   pons_sets=["end-easy"], pons_limit=10, resamples=200, seed=0)
    json.dumps(result)
    for name in ("random", "heuristic", "ab1"):
        wdl = [result[f"vs/{name}/{k}"] for k in ("win", "draw", "loss")]
        assert sum(wdl) == pytest.approx(1.0)
    assert result["mistakes/end-easy/positions"] == 10
    assert 0.0 <= result["mistakes/end-easy/rate"] <= 1.0
    if result["elo_bound"] is None:
        assert result["elo_lo"] <= result["elo"] <= result["elo_hi"]
        assert abs(result["elo"]) < 400  # an untrained agent plays about as well as uniform random
    else:
        assert result["elo"] is None


# ---------------------------------------------------------------------------------------------------
# A slow twin of the alpha-beta searchers: plain minimax (no pruning) in Python, same rules.

ORDER = [3, 2, 4, 1, 5, 0, 6]


def _lines():
    out = []
    for c in range(7):
        for r in range(6):
            for dc, dr in ((1, 0), (0, 1), (1, 1), (1, -1)):
                cells = [(c + k * dc, r + k * dr) for k in range(4)]
                if all(0 <= x < 7 and 0 <= y < 6 for x, y in cells):
                    out.append([x * 7 + y for x, y in cells])
    return out


LINES = _lines()


def slow_eval(mine, theirs):
    score = 0
    for line in LINES:
        m = sum((mine >> b) & 1 for b in line)
        t = sum((theirs >> b) & 1 for b in line)
        if t == 0:
            score += {2: 2, 3: 5}.get(m, 0)
        elif m == 0:
            score -= {2: 2, 3: 5}.get(t, 0)
    centre = [3 * 7 + r for r in range(6)]
    return score + 3 * (sum((mine >> b) & 1 for b in centre) - sum((theirs >> b) & 1 for b in centre))


def slow_drop(occupied, col):
    for r in range(6):
        if not (occupied >> (col * 7 + r)) & 1:
            return 1 << (col * 7 + r)
    return 0


def slow_four(bits):
    return any(all((bits >> b) & 1 for b in line) for line in LINES)


def slow_minimax(mine, theirs, ply, depth):
    if ply >= 42:
        return 0
    occ = mine | theirs
    cells = [slow_drop(occ, c) for c in ORDER]
    if any(cell and slow_four(mine | cell) for cell in cells):
        return 1_000_000 - (ply + 1)
    if depth <= 0:
        return slow_eval(mine, theirs)
    return max(-slow_minimax(theirs, mine | cell, ply + 1, depth - 1) for cell in cells if cell)


def slow_search_move(state, depth):
    mover = int(state[2]) & 1
    mine, theirs, ply = int(state[mover]), int(state[1 - mover]), int(state[2])
    best, best_col = None, -1
    for col in ORDER:
        cell = slow_drop(mine | theirs, col)
        if not cell:
            continue
        score = 1_000_000 if slow_four(mine | cell) else -slow_minimax(theirs, mine | cell, ply + 1, depth - 1)
        if best is None or score > best:
            best, best_col = score, col
    return best_col


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_alphabeta_equals_plain_minimax(depth):
    positions = random_positions(12 if depth == 3 else 30, seed=depth)
    states = np.stack([s for _, s in positions])
    fast = make_player(f"ab{depth}").select(states, np.arange(len(states)), 0)
    assert [int(a) for a in fast] == [slow_search_move(s, depth) for s in states]


def test_searchers_remember_moves_by_depth_and_position(monkeypatch):
    from numbaplay.eval import players

    monkeypatch.setattr(players, "_SEARCHED", {})
    states = np.stack([s for _, s in random_positions(40, seed=7)])
    direct = np.empty(len(states), np.int64)
    players.select_moves(direct, states, np.zeros(len(states), np.uint64), players.KIND_ALPHABETA, 4)
    ab4 = make_player("ab4")
    # repeated rows in one batch, then the same positions again in another order: lookups this time
    batch = np.concatenate([states, states[:10]])
    assert ab4.select(batch, np.arange(len(batch)), 0).tolist() == direct.tolist() + direct[:10].tolist()
    assert len(players._SEARCHED[4]) == len({(int(a), int(b)) for a, b in states[:, :2]})
    perm = np.random.default_rng(0).permutation(len(states))
    calls = []
    monkeypatch.setattr(players, "select_moves", lambda *a: calls.append(a))
    assert make_player("ab4").select(states[perm], perm, 1).tolist() == direct[perm].tolist()
    assert not calls  # every move came from the shared table, none from a search
    # another depth searches afresh: its moves are not depth 4's
    monkeypatch.undo()
    monkeypatch.setattr(players, "_SEARCHED", {4: {(int(a), int(b)): -7 for a, b in states[:, :2]}})
    ab3 = make_player("ab3").select(states, np.arange(len(states)), 0)
    assert (ab3 >= 0).all() and set(players._SEARCHED) == {3, 4}
    # a full table starts afresh rather than growing without bound
    monkeypatch.setattr(players, "SEARCH_CACHE_LIMIT", 5)
    players._SEARCHED.clear()
    assert make_player("ab2").select(states[:4], np.arange(4), 0).tolist() == \
        make_player("ab2").select(states[:4], np.arange(4), 0).tolist()
    make_player("ab2").select(states[4:8], np.arange(4), 0)
    assert len(players._SEARCHED[2]) == 4


def test_perfect_player_batches_equal_one_position_at_a_time():
    low = 12 if JIT else 32  # plain Python (NUMBA_DISABLE_JIT=1) solves only late positions in time
    positions = [s for m, s in random_positions(300, seed=11) if low <= s[2] <= 36][: 40 if JIT else 6]
    states = np.stack(positions + positions[:5])  # repeated positions in one batch
    solver = Solver(tt_log2=20)
    expected = []
    for s in states:
        mover = int(s[2]) & 1
        occupied = int(s[0]) | int(s[1])
        pos = S.Position("", int(s[mover]), occupied, int(s[2]), False)
        expected.append(solver.best_column(pos))
    got = PerfectPlayer(min_ply=0).select(states, np.arange(len(states)), 0)
    assert got.tolist() == expected


def twin_board(moves):
    """The twin's board (`naive`) of a position in move-string notation."""
    board = naive.new_board(naive.CONNECT4)
    for a in naive.parse_position(naive.CONNECT4, moves):
        board = naive.play(naive.CONNECT4, board, a)
    return board


def twin_heuristic(board):
    """Win now, else block, else the centre-most legal column (ties to the lower), on the twin's board."""
    legal = naive.legal_mask(naive.CONNECT4, board)
    me = naive.side_to_move(board)
    order = [3, 2, 4, 1, 5, 0, 6]
    for owner in (me, 3 - me):
        for col in order:
            if legal[col]:
                row = next(r for r in range(naive.ROWS) if board[r * naive.COLS + col] == 0)
                after = list(board)
                after[row * naive.COLS + col] = owner
                if naive.winner(naive.CONNECT4, after) == owner:
                    return col
    return next(col for col in order if legal[col])


def test_random_and_heuristic_players_equal_their_twins():
    """`random`: the k-th legal column, k = draw `ply` below the legal count of the EVAL stream (seed,
    game index); `heuristic`: `twin_heuristic`. Both against the twin's boards and random streams."""
    positions = random_positions(400, seed=11)
    states = np.stack([s for _, s in positions])
    index = np.arange(len(states)) * 7 + 3
    boards = [twin_board(moves) for moves, _ in positions]
    seed = 2**33 + 5
    rand = make_player("random").select(states, index, seed)
    heur = make_player("heuristic").select(states, index, seed)
    for (moves, _), board, g, r, h in zip(positions, boards, index, rand, heur, strict=True):
        legal = np.flatnonzero(naive.legal_mask(naive.CONNECT4, board))
        k = naive.below(len(legal), seed, naive.EVAL, int(g), 0, len(moves))
        assert int(r) == int(legal[k]), moves
        assert int(h) == twin_heuristic(board), moves
    # The positions include wins to take and to block, not only the centre rule.
    assert sum(int(h) != next(c for c in (3, 2, 4, 1, 5, 0, 6) if naive.legal_mask(naive.CONNECT4, b)[c])
               for b, h in zip(boards, heur, strict=True)) >= 50


def test_evaluation_function_equals_its_slow_twin():
    from numbaplay.eval.players import evaluate

    for _, s in random_positions(60, seed=9):
        mover = int(s[2]) & 1
        mine, theirs = s[mover], s[1 - mover]
        assert evaluate(mine, theirs) == slow_eval(int(mine), int(theirs))
        assert evaluate(theirs, mine) == -slow_eval(int(mine), int(theirs))


def test_ladder_build_command_writes_a_loadable_file(tmp_path, monkeypatch):
    import functools

    from click.testing import CliRunner

    import numbaplay.cli.ladder as cli_ladder
    from numbaplay.eval.ladder import build_ladder

    small = functools.partial(build_ladder, names=["random", "heuristic", "ab1"], resamples=100)
    monkeypatch.setattr(cli_ladder, "build_ladder", lambda **kw: small(**kw))
    out = tmp_path / "ladder.json"
    md = tmp_path / "ladder.md"
    result = CliRunner().invoke(cli_ladder.ladder, ["build", "--out", str(out), "--repeats", "2",
                                                    "--markdown", str(md)])
    assert result.exit_code == 0, result.output
    ladder = load_ladder(out)
    assert [p["name"] for p in ladder["players"]] == ["random", "heuristic", "ab1"]
    assert ladder["repeats"] == 2 and ladder["players"][0]["rating"] == 0.0
    assert "ladder build" in ladder["command"] and "| heuristic |" in md.read_text()
