"""The NumPy twin (`tests/naive.py`) checked against itself and against independent definitions: gradients
against float64 central differences, the RNG against SplitMix64's published outputs and a NumPy uint64
re-implementation, the games against known counts and an independent line finder, GAE against the plain
recursion, and the rollout against the ordering rules of SPEC section 5."""
from __future__ import annotations

import functools
import math

import naive as nv
import numpy as np
import pytest

from numbaplay.errors import PositionError

FD_STEP = 1e-6        # central-difference step on float64 parameters
FD_RTOL = 1e-6        # max |grad - fd| <= FD_RTOL * max |fd| + FD_ATOL
FD_ATOL = 1e-10
GAE_TOL = 1e-5        # float32 GAE against the float64 recursion (values O(1))

CFG = {"clip_eps": 0.2, "vf_coef": 0.5, "ent_coef": 0.01}


# ---------------------------------------------------------------------------------------------------------
# RNG
# ---------------------------------------------------------------------------------------------------------
def _np_mix(z):
    """SplitMix64 finalizer in NumPy uint64 arrays (wrapping), written independently of naive.mix."""
    z = np.array([z], dtype=np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return int((z ^ (z >> np.uint64(31)))[0])


def _np_draw(seed, purpose, iteration, index, n):
    key = _np_mix(_np_mix(_np_mix(_np_mix(seed) ^ purpose) ^ iteration) ^ index)
    z = np.array([key], dtype=np.uint64) + np.array([n + 1], dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return _np_mix(int(z[0]))


def test_mix_matches_splitmix64_reference_outputs():
    # Vigna's splitmix64 seeded with 0 returns mix(k * golden) for k = 1, 2, 3: these are its first outputs.
    golden = 0x9E3779B97F4A7C15
    assert nv.mix(golden) == 0xE220A8397B1DCDAF
    assert nv.mix((2 * golden) % 2**64) == 0x6E789E6AA1B965F4
    assert nv.mix((3 * golden) % 2**64) == 0x06C45D188009454F
    assert nv.mix(0) == 0


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**63 + 17, 2**64 - 1])
def test_draw_matches_independent_uint64_implementation(seed):
    for purpose in (nv.INIT, nv.OPPONENT, nv.LEARNER_ACTION, nv.SHUFFLE, nv.CURRICULUM):
        for iteration, index, n in ((0, 0, 0), (3, 7, 11), (1000, 63, 41), (2**40, 2**33, 2**20)):
            d = nv.draw(seed, purpose, iteration, index, n)
            assert d == _np_draw(seed, purpose, iteration, index, n)
            assert 0 <= d < 2**64
            u = nv.uniform(seed, purpose, iteration, index, n)
            assert u == (d >> 11) / 2.0**53 and 0.0 <= u < 1.0


def test_negative_seed_is_taken_modulo_2_64():
    assert nv.draw(-1, 2, 0, 0, 0) == nv.draw(2**64 - 1, 2, 0, 0, 0)


def test_below_is_in_range_and_follows_the_formula():
    for n in range(200):
        for k in (1, 2, 3, 7, 9, 1000):
            b = nv.below(k, 5, nv.OPPONENT, 2, 3, n)
            u = nv.uniform(5, nv.OPPONENT, 2, 3, n)
            assert 0 <= b < k and b == min(math.floor(u * k), k - 1)


def test_permutation_is_a_fisher_yates_permutation():
    for N in (0, 1, 2, 5, 37, 200):
        p = nv.permutation(N, 9, 4, 1)
        assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(N))
    # N = 2: one swap of 1 with below(2) from draw 0 of (SHUFFLE, iteration, epoch).
    j = nv.below(2, 9, nv.SHUFFLE, 4, 1, 0)
    assert nv.permutation(2, 9, 4, 1).tolist() == ([0, 1] if j == 1 else [1, 0])
    # N = 3: first swap i = 2 with draw 0, then i = 1 with draw 1.
    p = [0, 1, 2]
    j = nv.below(3, 9, nv.SHUFFLE, 4, 1, 0)
    p[2], p[j] = p[j], p[2]
    j = nv.below(2, 9, nv.SHUFFLE, 4, 1, 1)
    p[1], p[j] = p[j], p[1]
    assert nv.permutation(3, 9, 4, 1).tolist() == p
    assert not np.array_equal(nv.permutation(50, 9, 4, 1), nv.permutation(50, 9, 4, 2))
    assert np.array_equal(nv.permutation(50, 9, 4, 1), nv.permutation(50, 9, 4, 1))


# ---------------------------------------------------------------------------------------------------------
# Games
# ---------------------------------------------------------------------------------------------------------
def test_tictactoe_counts_by_enumeration():
    seen, terminal = set(), {1: 0, 2: 0, 3: 0}
    stack = [nv.new_board(nv.TICTACTOE)]
    while stack:
        board = stack.pop()
        key = tuple(board)
        if key in seen:
            continue
        seen.add(key)
        status = nv.winner(nv.TICTACTOE, board)
        if status:
            terminal[status] += 1
            assert not nv.legal_mask(nv.TICTACTOE, board).any()
            continue
        for a in np.flatnonzero(nv.legal_mask(nv.TICTACTOE, board)):
            stack.append(nv.play(nv.TICTACTOE, board, int(a)))
    assert len(seen) == 5478
    assert sum(terminal.values()) == 958 and len(seen) - 958 == 4520
    assert terminal == {1: 626, 2: 316, 3: 16}
    # A line completed on the last empty cell is a win, not a draw.
    assert any(sum(1 for c in b if c) == 9 and nv.winner(nv.TICTACTOE, list(b)) == 1 for b in seen)


def _np_lines_winner(grid):
    """Independent line finder on a 2-D array (rows x cols) for 4 (C4) or 3 (TTT) in a row: set of owners."""
    rows, cols = grid.shape
    need = 4 if rows == 6 else 3
    owners = set()
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        for r in range(rows):
            for c in range(cols):
                rr, cc = r + (need - 1) * dr, c + (need - 1) * dc
                if not (0 <= rr < rows and 0 <= cc < cols):
                    continue
                cells = [grid[r + k * dr, c + k * dc] for k in range(need)]
                if cells[0] and len(set(cells)) == 1:
                    owners.add(int(cells[0]))
    return owners


def _random_game(game, rng):
    board, moves = nv.new_board(game), []
    while nv.winner(game, board) == nv.ONGOING:
        a = int(rng.choice(np.flatnonzero(nv.legal_mask(game, board))))
        board = nv.play(game, board, a)
        moves.append(a)
    return moves


@pytest.mark.parametrize("game", [nv.TICTACTOE, nv.CONNECT4])
def test_replay_of_random_games(game):
    rng = np.random.default_rng(1)
    n_cells, A = nv.N_CELLS[game], nv.N_ACTIONS[game]
    shape = (3, 3) if game == nv.TICTACTOE else (6, 7)
    for _ in range(60 if game == nv.TICTACTOE else 25):
        moves = _random_game(game, rng)
        masks, obs, status = nv.replay(game, moves)
        assert masks.shape == (len(moves) + 1, A) and masks.dtype == np.uint8
        assert obs.shape == (len(moves) + 1, 2 * n_cells) and obs.dtype == np.float32
        assert (status[:-1] == 0).all() and status[-1] != 0
        assert not masks[-1].any()
        for p in range(len(moves) + 1):
            own, opp = obs[p, :n_cells], obs[p, n_cells:]
            assert not (own * opp).any()
            assert own.sum() == p // 2 and opp.sum() == (p + 1) // 2      # the side to move has <= stones
            occupied = (own + opp).reshape(shape)
            if game == nv.TICTACTOE:
                legal = occupied.ravel() == 0
            else:
                # gravity: each column's stones are contiguous from the bottom row (row 0 = index 0..6)
                for c in range(7):
                    col = occupied[:, c]
                    assert (np.diff(col) <= 0).all()
                legal = occupied[5] == 0
            if p < len(moves):
                assert np.array_equal(masks[p], legal.astype(np.uint8))
                assert masks[p][moves[p]] == 1
            # rebuild the board from the side-to-move planes and check the winner independently
            mover, other = (1, 2) if p % 2 == 0 else (2, 1)
            grid = (own.reshape(shape) * mover + opp.reshape(shape) * other).astype(int)
            if game == nv.TICTACTOE:
                grid = grid.reshape(3, 3)
            owners = _np_lines_winner(grid)
            expected = owners.pop() if owners else (3 if occupied.all() else 0)
            assert status[p] == expected


def _c4_after(moves):
    board = nv.new_board(nv.CONNECT4)
    for p, a in enumerate(moves):
        assert nv.winner(nv.CONNECT4, board) == nv.ONGOING, f"game ended before ply {p}"
        board = nv.play(nv.CONNECT4, board, a)
    return board


@pytest.mark.parametrize("mirror", [False, True])
def test_connect4_four_in_a_row_all_directions(mirror):
    cases = {
        "horizontal": ([0, 0, 1, 1, 2, 2, 3], 1),
        "vertical": ([0, 1, 0, 1, 0, 1, 6, 1], 2),
        "diagonal /": ([0, 1, 1, 2, 3, 2, 2, 3, 6, 3, 3], 1),
    }
    for name, (moves, who) in cases.items():
        moves = [6 - a for a in moves] if mirror else moves      # mirroring turns / into \
        board = _c4_after(moves[:-1])
        assert nv.winner(nv.CONNECT4, board) == nv.ONGOING, name
        board = nv.play(nv.CONNECT4, board, moves[-1])
        assert nv.winner(nv.CONNECT4, board) == who, name
        assert not nv.legal_mask(nv.CONNECT4, board).any()
        with pytest.raises(ValueError):
            nv.play(nv.CONNECT4, board, 4)


def test_connect4_every_line_is_found():
    lines = 0
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        for r in range(6):
            for c in range(7):
                cells = [(r + k * dr, c + k * dc) for k in range(4)]
                if not all(0 <= rr < 6 and 0 <= cc < 7 for rr, cc in cells):
                    continue
                lines += 1
                for who in (1, 2):
                    board = [0] * 42
                    for rr, cc in cells:
                        board[rr * 7 + cc] = who
                    assert nv.winner(nv.CONNECT4, board) == who
                    board[cells[1][0] * 7 + cells[1][1]] = 3 - who
                    assert nv.winner(nv.CONNECT4, board) == nv.ONGOING
    assert lines == 69 == len(nv.LINES[nv.CONNECT4])


def test_observation_layout_and_illegal_moves():
    board = nv.play(nv.CONNECT4, nv.new_board(nv.CONNECT4), 3)      # first player: row 0, column 3
    obs = nv.observe(nv.CONNECT4, board)                             # second player to move
    assert obs.shape == (84,) and obs[42 + 3] == 1 and obs.sum() == 1
    board = nv.play(nv.CONNECT4, board, 3)                           # second player: row 1, column 3
    obs = nv.observe(nv.CONNECT4, board)
    assert obs[3] == 1 and obs[42 + 7 + 3] == 1 and obs.sum() == 2
    board = nv.play(nv.TICTACTOE, nv.new_board(nv.TICTACTOE), 4)
    with pytest.raises(ValueError):
        nv.play(nv.TICTACTOE, board, 4)
    with pytest.raises(ValueError):
        nv.play(nv.TICTACTOE, board, 9)
    board = nv.new_board(nv.CONNECT4)
    for _ in range(6):
        board = nv.play(nv.CONNECT4, board, 0)
    assert nv.legal_mask(nv.CONNECT4, board).tolist() == [0, 1, 1, 1, 1, 1, 1]
    with pytest.raises(ValueError):
        nv.play(nv.CONNECT4, board, 0)


def test_parse_position_errors_name_char_and_ply():
    assert nv.parse_position(nv.CONNECT4, "4453") == [3, 3, 4, 2]
    assert nv.parse_position(nv.TICTACTOE, "") == []
    cases = ((nv.CONNECT4, "448", "'8' at ply 3"), (nv.TICTACTOE, "15x", "'x' at ply 3"),
             (nv.TICTACTOE, "151", "'1' at ply 3"), (nv.CONNECT4, "1111111", "ply 7"),
             (nv.TICTACTOE, "1425369", "'6' at ply 6 after"), (nv.CONNECT4, "0", "ply 1"))
    for game, text, fragment in cases:
        with pytest.raises(PositionError, match=fragment):
            nv.parse_position(game, text)


# ---------------------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------------------
SPECS = [(arch, obs, 8, L, A) for arch in (nv.MLP, nv.RESMLP) for obs, A in ((18, 9), (84, 7))
         for L in (2, 3)]


def test_param_layout_names_order_and_offsets():
    mlp = nv.param_layout((0, 18, 8, 2, 9))
    assert [(n, s) for n, s, _ in mlp] == [
        ("fc0.W", (8, 18)), ("fc0.b", (8,)), ("fc1.W", (8, 8)), ("fc1.b", (8,)),
        ("pi.W", (9, 8)), ("pi.b", (9,)), ("v.W", (1, 8)), ("v.b", (1,))]
    res = nv.param_layout((1, 84, 16, 3, 7))
    assert [n for n, _, _ in res] == [
        "in.W", "in.b", "blk1.ln.g", "blk1.ln.b", "blk1.W", "blk1.b", "blk2.ln.g", "blk2.ln.b", "blk2.W",
        "blk2.b", "out_ln.g", "out_ln.b", "pi.W", "pi.b", "v.W", "v.b"]
    for spec in SPECS:
        layout, offset = nv.param_layout(spec), 0
        for _, shape, off in layout:
            assert off == offset
            offset += int(np.prod(shape))
        assert nv.n_params(spec) == offset
    assert nv.n_params((0, 18, 8, 2, 9)) == 8 * 18 + 8 + 8 * 8 + 8 + 9 * 8 + 9 + 8 + 1


@pytest.mark.parametrize("spec", [(0, 18, 8, 2, 9), (1, 84, 8, 3, 7)])
def test_init_params(spec):
    p = nv.init_params(spec, 7)
    assert p.dtype == np.float32 and p.shape == (nv.n_params(spec),)
    assert np.array_equal(p, nv.init_params(spec, 7)) and not np.array_equal(p, nv.init_params(spec, 8))
    t = nv.unpack(p, spec, dtype=np.float32)
    H, obs = spec[2], spec[1]
    for name, _, off in nv.param_layout(spec):
        x = t[name]
        if ".ln." in name or name.startswith("out_ln"):
            assert (x == (1.0 if name.endswith("g") else 0.0)).all()
        elif name in ("pi.b", "v.b"):
            assert (x == 0).all()
        else:
            fan_in = obs if name in ("fc0.W", "fc0.b", "in.W", "in.b") else H
            bound = (0.01 if name == "pi.W" else 1.0) / math.sqrt(fan_in)
            assert (np.abs(x) < bound * (1 + 1e-6)).all() and np.abs(x).max() > 0.3 * bound
            i = off + 3                                   # offset i uses draw i of (INIT, 0, 0)
            w = np.float32((2.0 * nv.uniform(7, nv.INIT, 0, 0, i) - 1.0) / math.sqrt(fan_in))
            if name == "pi.W":
                w = np.float32(w * np.float32(0.01))
            assert p[i] == w


def test_gelu_and_its_derivative():
    x = np.linspace(-6, 6, 1001)
    reference = 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    assert np.abs(nv.gelu(x) - reference).max() < 1e-6              # k rounded to float32
    h = 1e-6
    fd = (nv.gelu(x + h) - nv.gelu(x - h)) / (2 * h)
    assert np.abs(nv.gelu_grad(x) - fd).max() < 1e-6
    big = np.array([-1e4, -50.0, 50.0, 1e4])
    with np.errstate(invalid="raise", divide="raise"):                 # no NaN, no 0 / 0
        assert np.array_equal(nv.gelu(big), [0.0, 0.0, 50.0, 1e4])
        assert np.array_equal(nv.gelu_grad(big), [0.0, 0.0, 1.0, 1.0])
    assert nv.GELU_K == float(np.float32(1.5957691216057308))


def test_forward_row_equals_batch_and_layer_norm():
    spec = (1, 84, 8, 3, 7)
    p = nv.init_params(spec, 1)
    obs = np.random.default_rng(0).integers(0, 2, size=(5, 84)).astype(np.float32)
    logits, value = nv.forward(p, spec, obs)
    assert logits.shape == (5, 7) and value.shape == (5,)
    l1, v1 = nv.forward(p, spec, obs[2])
    assert np.allclose(l1, logits[2], rtol=0, atol=1e-14) and abs(v1 - value[2]) < 1e-14
    x = np.random.default_rng(1).normal(size=(4, 8))
    y, _, _ = nv.layer_norm(x, np.ones(8), np.zeros(8))
    assert np.allclose(y.mean(axis=1), 0, atol=1e-12)
    assert np.allclose(y.var(axis=1), x.var(axis=1) / (x.var(axis=1) + 1e-5))


# ---------------------------------------------------------------------------------------------------------
# Masked policy
# ---------------------------------------------------------------------------------------------------------
def _legal_only_softmax(row, mask):
    legal = np.flatnonzero(mask)
    e = np.exp(row[legal] - row[legal].max())
    p = np.zeros(len(row))
    p[legal] = e / e.sum()
    return p


def test_masked_softmax_illegal_exactly_zero_and_legal_match():
    rng = np.random.default_rng(2)
    rows = [rng.normal(size=7) * 3, np.array([1e4, -1e4, 1e4 - 1, 5.0, -1e4 + 2, 0.0, 1e4]),
            np.array([-1e4, -1e4 + 0.5, -1e4 + 1, 1e4, 3e3, -3e3, 2.0])]
    for row in rows:
        for _ in range(20):
            mask = rng.integers(0, 2, size=7).astype(np.uint8)
            mask[rng.integers(7)] = 1
            row_ill = row.copy()
            row_ill[mask == 0] = 1e9                     # an illegal logit must not matter at all
            p = nv.masked_softmax(row_ill, mask)
            logp = nv.masked_log_softmax(row_ill, mask)
            assert (p[mask == 0] == 0.0).all() and np.isneginf(logp[mask == 0]).all()
            assert np.allclose(p, _legal_only_softmax(row, mask), rtol=1e-12, atol=1e-300)
            assert abs(p.sum() - 1.0) < 1e-12
            q = _legal_only_softmax(row, mask)
            ent = -sum(q[a] * math.log(q[a]) for a in range(7) if q[a] > 0)
            assert abs(nv.masked_entropy(row_ill, mask) - ent) < 1e-9
    with pytest.raises(ValueError):
        nv.masked_log_softmax(np.zeros(7), np.zeros(7, dtype=np.uint8))


def test_masked_log_softmax32_matches_float64_within_a_few_ulp():
    rng = np.random.default_rng(3)
    for _ in range(200):
        row = (rng.normal(size=9) * 4).astype(np.float32)
        mask = (rng.random(9) < 0.6).astype(np.uint8)
        mask[rng.integers(9)] = 1
        lp32 = nv.masked_log_softmax32(row, mask)
        lp64 = nv.masked_log_softmax(row.astype(np.float64), mask)
        assert lp32.dtype == np.float32 and np.isneginf(lp32[mask == 0]).all()
        legal = mask == 1
        ulp = np.spacing(np.abs(lp64[legal]).astype(np.float32)).astype(np.float64)
        assert (np.abs(lp32[legal] - lp64[legal]) <= 4 * np.maximum(ulp, 2.0**-24)).all()


def test_sample_action():
    mask = np.array([0, 1, 1, 0, 1, 1, 0], dtype=np.uint8)
    logits = np.array([9, 2, 5, 9, 5, 1, 9], dtype=np.float32)
    assert nv.sample_action(logits, mask, 0, 0.5) == 2                 # greedy: ties to the lowest legal
    assert nv.sample_action(logits, mask, 1.0, 0.0) == 1               # u = 0: first legal (C_1 > 0)
    assert nv.sample_action(logits, mask, 1.0, 1.0 - 2.0**-53) == 5    # u -> 1: last legal
    K = 20000
    p = nv.masked_softmax(logits.astype(np.float64), mask)
    counts = np.bincount([nv.sample_action(logits, mask, 1.0, (k + 0.5) / K) for k in range(K)], minlength=7)
    assert (counts[mask == 0] == 0).all() and np.abs(counts / K - p).max() < 2.0 / K
    p_hot = nv.masked_softmax(logits.astype(np.float64) / 0.5, mask)
    counts = np.bincount([nv.sample_action(logits, mask, 0.5, (k + 0.5) / K) for k in range(K)], minlength=7)
    assert np.abs(counts / K - p_hot).max() < 2.0 / K
    # a single legal action is always taken; huge logits do not overflow
    one = np.zeros(7, dtype=np.uint8)
    one[3] = 1
    assert nv.sample_action(np.full(7, 1e4, np.float32), one, 1.0, 0.999) == 3


# ---------------------------------------------------------------------------------------------------------
# PPO loss and gradient
# ---------------------------------------------------------------------------------------------------------
def _batch(spec, params, rng, n=12, all_illegal=None):
    """A random minibatch with illegal actions and every ratio r at least 0.05 away from 1 +- eps."""
    obs_size, A = spec[1], spec[4]
    occupied = rng.random((n, obs_size // 2)) < 0.4
    mine = rng.random((n, obs_size // 2)) < 0.5
    obs = np.concatenate([occupied & mine, occupied & ~mine], axis=1).astype(np.float32)
    mask = (rng.random((n, A)) < 0.6).astype(np.uint8)
    mask[np.arange(n), rng.integers(0, A, n)] = 1
    if all_illegal is not None:
        mask[:, all_illegal] = 0
        mask[:, (all_illegal + 1) % A] = 1
    action = np.array([rng.choice(np.flatnonzero(m)) for m in mask])
    logits, _ = nv.forward(params, spec, obs)
    logp_new = nv.masked_log_softmax(logits, mask)[np.arange(n), action]
    bands = [(0.4, 0.75), (0.85, 1.15), (1.25, 1.8)]             # below, inside and above the clip range
    r = np.array([rng.uniform(*bands[i % 3]) for i in range(n)])
    return {"obs": obs, "mask": mask, "action": action, "logp_old": logp_new - np.log(r),
            "adv": rng.normal(size=n), "ret": rng.uniform(-1, 1, n)}


def _params64(spec, rng):
    return nv.init_params(spec, 11).astype(np.float64) + rng.normal(0, 0.3, nv.n_params(spec))


@pytest.mark.parametrize("spec", [(0, 18, 8, 2, 9), (0, 84, 8, 3, 7), (1, 18, 8, 3, 9), (1, 84, 8, 2, 7)])
def test_ppo_grad_matches_central_differences(spec):
    rng = np.random.default_rng(spec[0] * 10 + spec[1])
    params = _params64(spec, rng)
    batch = _batch(spec, params, rng)
    cfg = {"clip_eps": 0.2, "vf_coef": 0.7, "ent_coef": 0.05}
    grad = nv.ppo_grad(params, spec, batch, cfg)
    fd = np.empty_like(grad)
    for i in range(len(params)):
        up, down = params.copy(), params.copy()
        up[i] += FD_STEP
        down[i] -= FD_STEP
        fd[i] = (nv.ppo_loss(up, spec, batch, cfg)["loss"] - nv.ppo_loss(down, spec, batch, cfg)["loss"]) / (
            2 * FD_STEP)
    err = np.abs(grad - fd).max()
    assert err <= FD_RTOL * np.abs(fd).max() + FD_ATOL, err / np.abs(fd).max()
    stats = nv.ppo_loss(params, spec, batch, cfg)
    assert 0 < stats["clip_frac"] < 1                                 # both clipped and unclipped rows


def test_ppo_loss_terms_and_illegal_logits_get_zero_gradient():
    spec = (1, 18, 8, 2, 9)
    rng = np.random.default_rng(5)
    params = _params64(spec, rng)
    batch = _batch(spec, params, rng, n=10, all_illegal=4)
    grad = nv.unpack(nv.ppo_grad(params, spec, batch, CFG), spec)
    assert (grad["pi.W"][4] == 0.0).all() and grad["pi.b"][4] == 0.0   # action 4 is illegal in every row
    logits, value = nv.forward(params, spec, batch["obs"])
    n = len(value)
    logp = nv.masked_log_softmax(logits, batch["mask"])[np.arange(n), batch["action"]]
    r = np.exp(logp - batch["logp_old"])
    A = batch["adv"]
    policy = -np.mean(np.minimum(r * A, np.clip(r, 0.8, 1.2) * A))
    vloss = np.mean((value - batch["ret"]) ** 2)
    ent = np.mean(nv.masked_entropy(logits, batch["mask"]))
    stats = nv.ppo_loss(params, spec, batch, CFG)
    assert math.isclose(stats["policy"], policy, rel_tol=1e-12)
    assert math.isclose(stats["value"], vloss, rel_tol=1e-12)
    assert math.isclose(stats["entropy"], ent, rel_tol=1e-12)
    assert math.isclose(stats["loss"], policy + 0.5 * vloss - 0.01 * ent, rel_tol=1e-12)
    assert math.isclose(stats["approx_kl"], np.mean((r - 1) - np.log(r)), rel_tol=1e-10)
    assert stats["clip_frac"] == np.mean(np.abs(r - 1) > 0.2)


# ---------------------------------------------------------------------------------------------------------
# GAE, normalisation, minibatches, clipping, Adam, schedule
# ---------------------------------------------------------------------------------------------------------
def _gae_recursive(reward, value, done, gamma, lam):
    """The textbook recursion in float64, per game, by memoised recursion."""
    reward, value = np.asarray(reward, np.float64), np.asarray(value, np.float64)

    @functools.cache
    def A(t):
        if done[t]:
            return reward[t] - value[t]
        return reward[t] + gamma * value[t + 1] - value[t] + gamma * lam * A(t + 1)

    adv = np.array([A(t) for t in range(len(reward))])
    return adv, adv + value


def test_gae_equals_the_recursive_definition():
    rng = np.random.default_rng(6)
    lengths = [1, 5, 3, 21, 2, 4]
    done = np.concatenate([[0] * (k - 1) + [1] for k in lengths]).astype(np.uint8)
    N = len(done)
    reward = np.where(done == 1, rng.choice([-1.0, 0.0, 1.0], N), 0.0).astype(np.float32)
    value = rng.uniform(-1, 1, N).astype(np.float32)
    for gamma, lam in ((0.99, 0.95), (1.0, 1.0), (0.9, 0.0)):
        adv, ret = nv.gae(reward, value, done, gamma, lam)
        adv64, ret64 = _gae_recursive(reward, value, done, gamma, lam)
        assert adv.dtype == np.float32 and ret.dtype == np.float32
        assert np.abs(adv - adv64).max() < GAE_TOL and np.abs(ret - ret64).max() < GAE_TOL
        assert np.array_equal(ret, (adv + value).astype(np.float32))
    # a one-transition game is exactly r - V; games do not leak into each other
    assert adv[0] == np.float32(reward[0] - value[0])
    a1, _ = nv.gae(reward[:1], value[:1], done[:1], 0.99, 0.95)
    a2, _ = nv.gae(reward[1:6], value[1:6], done[1:6], 0.99, 0.95)
    full, _ = nv.gae(reward, value, done, 0.99, 0.95)
    assert np.array_equal(full[:6], np.concatenate([a1, a2]))
    with pytest.raises(ValueError):
        nv.gae(reward[:3], value[:3], done[:3], 0.99, 0.95)


def test_normalize_advantages():
    adv = np.random.default_rng(7).normal(3, 2, 101).astype(np.float32)
    z = nv.normalize_advantages(adv)
    assert z.dtype == np.float32 and abs(z.astype(np.float64).mean()) < 1e-6
    assert abs(z.astype(np.float64).std() - 1) < 1e-6
    a64 = adv.astype(np.float64)
    assert np.array_equal(z, ((a64 - a64.mean()) / (a64.std() + 1e-8)).astype(np.float32))
    assert nv.normalize_advantages(np.array([5.0], np.float32)).tolist() == [0.0]
    assert nv.normalize_advantages(np.full(4, 2.5, np.float32)).tolist() == [0.0] * 4


def test_minibatch_slices():
    for N in range(0, 130):
        for bs in (1, 2, 7, 16, 64, 200):
            s = nv.minibatch_slices(N, bs)
            sizes = [b - a for a, b in s]
            assert len(s) == -(-N // bs)
            assert sum(sizes) == N and all(s[i][1] == s[i + 1][0] for i in range(len(s) - 1))
            if N:
                assert s[0][0] == 0 and s[-1][1] == N and max(sizes) <= bs
                assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
    assert nv.minibatch_slices(10, 4) == [(0, 4), (4, 7), (7, 10)]


def test_clip_grad_norm():
    g = np.array([3.0, 4.0], dtype=np.float32)
    out, norm = nv.clip_grad_norm(g, 10.0)
    assert norm == 5.0 and np.array_equal(out, g)
    out, norm = nv.clip_grad_norm(g, 0.5)
    assert norm == 5.0 and out.dtype == np.float32
    assert np.array_equal(out, g * np.float32(0.5 / (5.0 + 1e-6)))
    out, _ = nv.clip_grad_norm(g, 0.0)                                   # 0 disables clipping
    assert np.array_equal(out, g)


def test_adam_step_matches_float64_adam():
    rng = np.random.default_rng(8)
    P = 50
    p = rng.normal(size=P).astype(np.float32)
    m, v, t = np.zeros(P, np.float32), np.zeros(P, np.float32), 0
    p64, m64, v64 = p.astype(np.float64), np.zeros(P), np.zeros(P)
    for step in range(1, 6):
        g = rng.normal(size=P).astype(np.float32)
        p, m, v, t = nv.adam_step(p, g, m, v, t, 1e-3)
        m64 = 0.9 * m64 + 0.1 * g
        v64 = 0.999 * v64 + 0.001 * g.astype(np.float64) ** 2
        p64 = p64 - 1e-3 / (1 - 0.9**step) * m64 / (np.sqrt(v64) / math.sqrt(1 - 0.999**step) + 1e-8)
        assert t == step and p.dtype == m.dtype == v.dtype == np.float32
        assert np.abs(p - p64).max() < 1e-6
    # first step moves every parameter by about lr * sign(g)
    p0 = np.zeros(3, np.float32)
    p1, _, _, _ = nv.adam_step(p0, np.array([2.0, -0.5, 1e-3], np.float32), p0, p0, 0, 0.01)
    assert np.allclose(p1, [-0.01, 0.01, -0.01], rtol=1e-4)


def test_learning_rate_schedules():
    assert nv.learning_rate(5, 1e-3, 1e-5, 10, "constant") == 1e-3
    assert nv.learning_rate(0, 1e-3, 1e-5, 10, "cosine") == 1e-3
    assert math.isclose(nv.learning_rate(9, 1e-3, 1e-5, 10, "cosine"), 1e-5, rel_tol=1e-12)
    assert nv.learning_rate(50, 1e-3, 1e-5, 10, "cosine") == nv.learning_rate(9, 1e-3, 1e-5, 10, "cosine")
    mid = nv.learning_rate(2, 1.0, 0.0, 5, "cosine")                    # cos(pi/2) = 0 -> halfway
    assert math.isclose(mid, 0.5, rel_tol=1e-12)
    assert nv.learning_rate(0, 1e-3, 0.0, 1, "cosine") == 1e-3


# ---------------------------------------------------------------------------------------------------------
# Self-play
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("game,spec", [(nv.TICTACTOE, (1, 18, 8, 2, 9)), (nv.CONNECT4, (0, 84, 8, 2, 7))])
def test_rollout_order_seats_and_determinism(game, spec):
    G = 6
    pool = [nv.init_params(spec, s) for s in (1, 2, 3)]
    learner = nv.init_params(spec, 4)
    cfg = {"games_per_iter": G, "opp_temperature": 0.7, "draw_reward": 0.25}
    ro = nv.rollout(game, learner, pool, spec, cfg, 42, 3)
    N = len(ro["action"])
    assert ro["obs"].shape == (N, nv.OBS_SIZE[game]) and ro["mask"].shape == (N, nv.N_ACTIONS[game])
    assert ro["logp_old"].dtype == ro["value"].dtype == ro["reward"].dtype == np.float32
    # game-major: game index non-decreasing, ply increasing within a game, offsets delimit games
    assert (np.diff(ro["game"]) >= 0).all() and ro["offsets"][0] == 0 and ro["offsets"][-1] == N
    for g in range(G):
        lo, hi = ro["offsets"][g], ro["offsets"][g + 1]
        assert hi > lo and (ro["game"][lo:hi] == g).all()
        assert (np.diff(ro["ply"][lo:hi]) == 2).all()
        assert (ro["ply"][lo:hi] % 2 == g % 2).all()                   # learner first when g is even
        assert (ro["done"][lo:hi - 1] == 0).all() and ro["done"][hi - 1] == 1
        assert (ro["reward"][lo:hi - 1] == 0).all()
        moves = ro["moves"][g]
        masks, obs, status = nv.replay(game, moves)
        final = status[-1]
        learner_side = 1 if g % 2 == 0 else 2
        expected = 0 if final == nv.DRAW else (1 if final == learner_side else -1)
        assert ro["result"][g] == expected
        assert ro["reward"][hi - 1] == {1: 1.0, -1: -1.0, 0: 0.25}[expected]
        plies = ro["ply"][lo:hi]
        assert np.array_equal(ro["obs"][lo:hi], obs[plies])
        assert np.array_equal(ro["mask"][lo:hi], masks[plies])
        assert np.array_equal(ro["action"][lo:hi], np.array(moves)[plies])
        assert ro["opponent"][g] == nv.below(len(pool), 42, nv.OPPONENT, 3, g, 0)
        for k, p in enumerate(plies):
            logits, _ = nv.forward(learner, spec, obs[p])
            l32 = logits.astype(np.float32)
            assert ro["logp_old"][lo + k] == nv.masked_log_softmax32(l32, masks[p])[moves[p]]
            assert ro["action"][lo + k] == nv.sample_action(l32, masks[p], 1.0,
                                                            nv.uniform(42, nv.LEARNER_ACTION, 3, g, p))
    again = nv.rollout(game, learner, pool, spec, cfg, 42, 3)
    for key, value in ro.items():
        assert (value == again[key]) if key == "moves" else np.array_equal(value, again[key]), key
    other = nv.rollout(game, learner, pool, spec, cfg, 43, 3)
    assert other["moves"] != ro["moves"]
    with pytest.raises(ValueError):
        nv.rollout(game, learner, pool, spec, {"games_per_iter": 3}, 42, 3)


def test_ppo_iteration_and_pool():
    spec = (1, 18, 8, 2, 9)
    cfg = {"games_per_iter": 6, "batch_size": 8, "epochs": 2, "lr": 1e-2}
    params = nv.init_params(spec, 0)
    zeros = np.zeros_like(params)
    out = nv.ppo_iteration(nv.TICTACTOE, params, zeros, zeros, 0, [params], spec, cfg, 0, 0)
    N = len(out["rollout"]["action"])
    assert out["t"] == 2 * len(nv.minibatch_slices(N, 8))
    assert out["params"].dtype == np.float32 and not np.array_equal(out["params"], params)
    stats = out["stats"]
    assert set(stats) == {"policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac", "grad_norm",
                          "explained_variance"}
    assert all(math.isfinite(v) for v in stats.values() if v is not None)
    assert 0 < stats["entropy"] <= math.log(9) and stats["grad_norm"] > 0
    again = nv.ppo_iteration(nv.TICTACTOE, params, zeros, zeros, 0, [params], spec, cfg, 0, 0)
    assert np.array_equal(out["params"], again["params"]) and out["stats"] == again["stats"]
    cosine = {**cfg, "ent_schedule": "cosine", "ent_coef_min": 0.001, "iterations": 3, "epochs": 1}
    assert nv.ppo_iteration(nv.TICTACTOE, params, zeros, zeros, 0, [params], spec, cosine, 0, 2)[
        "ent_coef"] == 0.001

    pool = [params]
    for i in range(6):
        pool = nv.pool_update(pool, np.full(3, i, np.float32), i, 2, 3)
    assert len(pool) == 3 and pool[0] is params
    assert [int(p[0]) for p in pool[1:]] == [3, 5]                   # snapshots after iterations 1, 3, 5
    assert nv.explained_variance(np.ones(4, np.float32), np.zeros(4, np.float32)) is None
