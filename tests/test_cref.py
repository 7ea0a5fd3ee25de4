"""The C reference (`c_reference/`) against the NumPy twin (`tests/naive.py`), and its file handling.

Tolerances follow SPEC section 8: integers (masks, observations, states, moves, chosen actions) exact;
elementwise float32 kernels (GAE, normalisation, Adam) within `ELEM_ULPS`; tensors that pass through
BLAS within `max|c - ref| <= BLAS_RTOL * max|ref| + BLAS_ATOL`, the twin being float64. Parity cases keep
every ratio r at least 0.05 away from 1 - eps and 1 + eps. The binary is built once per session (make
reuses an up-to-date build); the tests skip only when there is no C compiler.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import naive as nv
import numpy as np
import pytest

from numbaplay.cref import build as cbuild
from numbaplay.cref import fileformat as ff
from numbaplay.errors import CReferenceError

BLAS_RTOL = 1e-4
BLAS_ATOL = 1e-7
ELEM_ULPS = 4
STATS_RTOL = 1e-3   # a training iteration's logged means: many Adam steps after the first forward pass
LOSS_CFG = {"clip_eps": 0.2, "vf_coef": 0.5, "ent_coef": 0.01, "max_grad_norm": 0.5}
MAX_PLIES = {nv.TICTACTOE: 9, nv.CONNECT4: 42}
# Full-board draws in position notation (random play rarely draws at Connect Four).
DRAWN = {nv.TICTACTOE: "864231579", nv.CONNECT4: "666165577462463234152541333211132724554777"}
CASES = [(g, a) for g in (nv.TICTACTOE, nv.CONNECT4) for a in (nv.MLP, nv.RESMLP)]
CASE_IDS = ["ttt-mlp", "ttt-resmlp", "c4-mlp", "c4-resmlp"]


def assert_blas_close(c, ref, what):
    c, ref = np.asarray(c, np.float64), np.asarray(ref, np.float64)
    assert c.shape == ref.shape, what
    err, bound = np.max(np.abs(c - ref)), BLAS_RTOL * np.max(np.abs(ref)) + BLAS_ATOL
    assert err <= bound, f"{what}: NOT OK maxdiff {err:.3g} > {bound:.3g}"


def assert_ulps(c, ref, what, ulps=ELEM_ULPS):
    c, ref = np.asarray(c, np.float32), np.asarray(ref, np.float32)
    assert c.shape == ref.shape, what
    spacing = np.spacing(np.maximum(np.abs(c), np.abs(ref))).astype(np.float64)
    diff = np.abs(c.astype(np.float64) - ref.astype(np.float64)) / spacing
    assert np.max(diff, initial=0.0) <= ulps, f"{what}: {np.max(diff):.1f} ulp apart"


def spec_of(game, arch, hidden=16, depth=3):
    return (arch, nv.OBS_SIZE[game], hidden, depth, nv.N_ACTIONS[game])


# Train-mode inputs the C binary requires (entropy schedule, curriculum): `fileformat.INPUTS` must list
# them, or `prepare_case` rejects them and compare-c breaks (checked, not patched in).
TRAIN_INPUTS = ("cfg.ent_coef_min", "cfg.ent_schedule", "cfg.random_opening_plies")


def test_fileformat_lists_every_train_input_the_binary_reads():
    assert set(TRAIN_INPUTS) <= set(ff.INPUTS["train"])


@pytest.fixture(scope="session")
def binary():
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler (cc or gcc): `apt-get install gcc` to test the C reference")
    return cbuild.build_binary()


@pytest.fixture(scope="session")
def run(binary):
    return cbuild.run_binary


def random_games(game, count, rng, full=False):
    """Lists of moves of random games, cut at a random ply unless `full`."""
    games = []
    for _ in range(count):
        board, moves = nv.new_board(game), []
        stop = MAX_PLIES[game] if full else int(rng.integers(0, MAX_PLIES[game] + 1))
        while nv.winner(game, board) == nv.ONGOING and len(moves) < stop:
            action = int(rng.choice(np.flatnonzero(nv.legal_mask(game, board))))
            moves.append(action)
            board = nv.play(game, board, action)
        games.append(moves)
    return games


def random_positions(game, n, rng):
    """(obs, mask) of n non-terminal positions from random games."""
    obs, mask = [], []
    while len(obs) < n:
        board = nv.new_board(game)
        while nv.winner(game, board) == nv.ONGOING:
            legal = nv.legal_mask(game, board)
            obs.append(nv.observe(game, board))
            mask.append(legal)
            board = nv.play(game, board, int(rng.choice(np.flatnonzero(legal))))
    return np.array(obs[:n]), np.array(mask[:n])


# ---------------------------------------------------------------------------------------------------------
# Build, init, RNG
# ---------------------------------------------------------------------------------------------------------
def test_build_links_blas_by_rpath(binary):
    assert binary.is_file() and os.access(binary, os.X_OK)
    assert cbuild.build_binary() == binary                       # up to date: reused
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, env=env)
    assert "not found" not in ldd.stdout
    assert "openblas" in ldd.stdout
    usage = subprocess.run([str(binary), "--help"], capture_output=True, text=True, env=env)
    assert usage.returncode == 0 and "kernels" in usage.stdout
    blas = cbuild.find_blas()
    assert blas["kind"] in ("scipy-openblas32", "system") and os.path.isdir(blas["libdir"])


def test_fresh_build_without_warnings(binary, tmp_path):
    # The same make command build_binary runs, from scratch into tmp_path, with warnings as errors.
    cmd = cbuild.make_command(build_dir=tmp_path) + ["CFLAGS=-O1 -march=native -Werror"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "-ffp-contract=off" in proc.stdout and "fast-math" not in proc.stdout.replace("-fno-fast-math", "")
    usage = subprocess.run([str(tmp_path / "numbaplay_c"), "--help"], capture_output=True, text=True)
    assert usage.returncode == 0


def test_missing_compiler_and_blas_name_the_install_command(monkeypatch):
    monkeypatch.setattr(cbuild.shutil, "which", lambda name: None)
    monkeypatch.delenv("CC", raising=False)
    with pytest.raises(CReferenceError, match="apt-get install gcc"):
        cbuild.find_compiler()
    monkeypatch.setitem(__import__("sys").modules, "scipy_openblas32", None)
    monkeypatch.setattr(cbuild, "_SYSTEM_INCLUDES", ())
    with pytest.raises(CReferenceError, match="pip install scipy-openblas32"):
        cbuild.find_blas()


@pytest.mark.parametrize("game,arch", CASES, ids=CASE_IDS)
def test_init_equals_naive_exactly(run, game, arch):
    spec = spec_of(game, arch, hidden=8)
    for seed in (0, 7, 2**63 + 5, 2**64 - 1):
        out = run("kernels", {"game": game, "net.spec": spec, "init.seed": seed})
        np.testing.assert_array_equal(out["init.params"], nv.init_params(spec, seed))
    layout = nv.param_layout(spec)
    np.testing.assert_array_equal(out["layout.offsets"], [off for _, _, off in layout] + [nv.n_params(spec)])


def test_rng_streams_equal_naive(run):
    for seed, stream in ((0, (5, 0, 0)), (12345, (3, 7, 511)), (2**64 - 1, (5, 2**40, 3))):
        out = run("kernels", {"game": 0, "net.spec": spec_of(0, 0), "rng.seed": seed, "rng.stream": stream,
                              "rng.count": 64})
        draws = np.array([nv.draw(seed, *stream, n) for n in range(64)], dtype=np.uint64)
        np.testing.assert_array_equal(out["rng.draws"].view(np.uint64), draws)
        np.testing.assert_array_equal(out["rng.uniform"], [nv.uniform(seed, *stream, n) for n in range(64)])
        if stream[0] == nv.SHUFFLE:
            perm = nv.permutation(64, seed, stream[1], stream[2])
            np.testing.assert_array_equal(out["rng.permutation"], perm)


# ---------------------------------------------------------------------------------------------------------
# Kernels: forward, masked policy, loss, gradient, Adam, GAE, replays
# ---------------------------------------------------------------------------------------------------------
def batch_case(game, arch, n, seed):
    rng = np.random.default_rng(seed)
    spec = spec_of(game, arch, hidden=24)
    # Perturbed init: logits well away from uniform, LayerNorm gains and biases away from 1 and 0.
    params = (nv.init_params(spec, seed) + rng.normal(0.0, 0.1, nv.n_params(spec))).astype(np.float32)
    obs, mask = random_positions(game, n, rng)
    action = np.array([rng.choice(np.flatnonzero(m)) for m in mask], dtype=np.int32)
    logits, _ = nv.forward(params, spec, obs)
    logp = nv.masked_log_softmax(logits, mask)[np.arange(n), action]
    # r inside the clip range for half the rows, far outside for the rest: never near 1 +- eps.
    r = np.where(rng.random(n) < 0.5, rng.uniform(0.85, 1.15, n), rng.choice([0.6, 1.4], n))
    batch = {"obs": obs, "mask": mask, "action": action, "logp_old": (logp - np.log(r)).astype(np.float32),
             "adv": rng.normal(size=n).astype(np.float32), "ret": rng.uniform(-1, 1, n).astype(np.float32)}
    adam = {"m": (rng.normal(size=params.size) * 1e-3).astype(np.float32),
            "v": (rng.random(params.size) * 1e-5).astype(np.float32), "t": 6}
    return spec, params, batch, adam


@pytest.mark.parametrize("game,arch", CASES, ids=CASE_IDS)
def test_forward_loss_grad_adam_match_naive(run, game, arch):
    spec, params, batch, adam = batch_case(game, arch, n=41, seed=10 + 2 * game + arch)
    lr = 1e-3
    out = run("kernels", {"game": game, "net.spec": spec, "params": params,
                          **{f"batch.{k}": v for k, v in batch.items()},
                          **{f"cfg.{k}": v for k, v in LOSS_CFG.items()}, "cfg.lr": lr,
                          **{f"adam.{k}": v for k, v in adam.items()}})
    mask = batch["mask"].astype(bool)
    n = len(mask)
    logits, value = nv.forward(params, spec, batch["obs"])
    assert_blas_close(out["out.logits"], logits, "logits")
    assert_blas_close(out["out.value"], value, "value")
    logp = nv.masked_log_softmax(logits, mask)
    assert_blas_close(out["out.logp"], logp[np.arange(n), batch["action"]], "logp")
    assert_blas_close(out["out.entropy"], nv.masked_entropy(logits, mask), "entropy")
    assert_blas_close(out["out.probs"], nv.masked_softmax(logits, mask), "probs")
    # Illegal actions: probability and logit gradient exactly zero, by a select.
    assert np.all(out["out.probs"][~mask] == 0.0) and np.all(out["out.dlogits"][~mask] == 0.0)

    loss = nv.ppo_loss(params, spec, batch, LOSS_CFG)
    names = (("policy", "policy"), ("value", "value"), ("entropy", "entropy"), ("total", "loss"),
             ("approx_kl", "approx_kl"))
    for c_name, n_name in names:
        assert_blas_close(out[f"loss.{c_name}"], loss[n_name], f"loss.{c_name}")
    assert float(out["loss.clip_frac"]) == loss["clip_frac"]      # no r near the clip boundaries

    grad = nv.ppo_grad(params, spec, batch, LOSS_CFG)
    assert_blas_close(out["grad"], grad, "grad")
    assert abs(float(out["grad.norm"]) - np.linalg.norm(grad)) <= BLAS_RTOL * np.linalg.norm(grad)

    # Clip + Adam on the C gradient: an elementwise kernel, compared with the twin's float32 step.
    clipped, norm = nv.clip_grad_norm(out["grad"], LOSS_CFG["max_grad_norm"])
    assert norm == float(out["grad.norm"])
    p2, m2, v2, t2 = nv.adam_step(params, clipped, adam["m"], adam["v"], adam["t"], lr)
    assert_ulps(out["adam.params"], p2, "adam.params")
    assert_ulps(out["adam.m"], m2, "adam.m")
    assert_ulps(out["adam.v"], v2, "adam.v")
    assert int(out["adam.t"]) == t2 == adam["t"] + 1


def test_gae_and_normalisation_match_naive(run):
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 22, 40)
    done = np.zeros(lengths.sum(), np.uint8)
    done[np.cumsum(lengths) - 1] = 1
    reward = np.where(done == 1, rng.choice([-1.0, 0.0, 1.0, 0.25], done.size), 0.0).astype(np.float32)
    value = rng.uniform(-1, 1, done.size).astype(np.float32)
    for gamma, lam in ((0.99, 0.95), (1.0, 1.0), (0.9, 0.0)):
        out = run("kernels", {"game": 1, "net.spec": spec_of(1, 0), "gae.reward": reward, "gae.value": value,
                              "gae.done": done, "cfg.gamma": gamma, "cfg.lam": lam})
        adv, ret = nv.gae(reward, value, done, gamma, lam)
        assert_ulps(out["gae.adv"], adv, "gae.adv")
        assert_ulps(out["gae.ret"], ret, "gae.ret")
        assert_ulps(out["gae.adv_norm"], nv.normalize_advantages(adv), "gae.adv_norm")
    single = run("kernels", {"game": 1, "net.spec": spec_of(1, 0), "gae.reward": [1.0], "gae.value": [0.5],
                             "gae.done": [1], "cfg.gamma": 0.99, "cfg.lam": 0.95})
    assert single["gae.adv_norm"].tolist() == [0.0]


@pytest.mark.parametrize("game,count", [(nv.TICTACTOE, 400), (nv.CONNECT4, 150)], ids=["ttt", "c4"])
def test_replays_exact(run, game, count):
    rng = np.random.default_rng(game)
    games = random_games(game, count // 2, rng) + random_games(game, count // 2, rng, full=True)
    games.append([int(c) - 1 for c in DRAWN[game]])
    width = max(len(g) for g in games)
    moves = np.full((len(games), width), -1, np.int32)
    for i, g in enumerate(games):
        moves[i, :len(g)] = g
    out = run("kernels", {"game": game, "net.spec": spec_of(game, 0), "replay.moves": moves,
                          "replay.length": [len(g) for g in games]})
    for i, g in enumerate(games):
        masks, obs, status = nv.replay(game, g)
        k = len(g) + 1
        np.testing.assert_array_equal(out["replay.mask"][i, :k], masks)
        np.testing.assert_array_equal(out["replay.obs"][i, :k], obs)
        np.testing.assert_array_equal(out["replay.status"][i, :k], status)
        assert np.all(out["replay.status"][i, k:] == -1)
        np.testing.assert_array_equal(out["replay.state"][i, :k, 2], np.arange(k))
    finals = out["replay.status"][np.arange(len(games)), [len(g) for g in games]]
    assert {1, 2, 3} <= set(finals.tolist())                     # wins for both seats and draws seen


# ---------------------------------------------------------------------------------------------------------
# Training: iteration 0 against the twin, thread-count invariance
# ---------------------------------------------------------------------------------------------------------
def train_case(game, spec, params, seed, games, **overrides):
    case = {"game": game, "net.spec": spec, "params": params, "cfg.gamma": 0.99, "cfg.lam": 0.95,
            "cfg.clip_eps": 0.2, "cfg.vf_coef": 0.5, "cfg.ent_coef": 0.01, "cfg.max_grad_norm": 0.5,
            "cfg.lr": 3e-3, "cfg.lr_min": 0.0, "cfg.opp_temperature": 1.0, "cfg.draw_reward": 0.0,
            "cfg.epochs": 2, "cfg.games_per_iter": games, "cfg.batch_size": 16, "cfg.lr_schedule": 0,
            "cfg.iterations": 10, "cfg.pool_size": 3, "cfg.snapshot_interval": 1, "cfg.seed": seed,
            "cfg.n_iterations": 1, "cfg.ent_coef_min": 0.0, "cfg.ent_schedule": 0,
            "cfg.random_opening_plies": 0}
    case.update(overrides)
    return case


def assert_iteration0_matches(out, ref, game, games):
    """Iteration 0's games exactly, its transitions (exact or within the BLAS bound), GAE, and the logged
    means of its update against the twin's `ppo_iteration` result `ref`."""
    ro = ref["rollout"]
    moves = np.full((games, MAX_PLIES[game]), -1)
    for g, mv in enumerate(ro["moves"]):
        moves[g, :len(mv)] = mv
    # The games, exactly.
    np.testing.assert_array_equal(out["iter0.moves"], moves)
    np.testing.assert_array_equal(out["iter0.opponent"], ro["opponent"])
    np.testing.assert_array_equal(out["iter0.seat"], np.arange(games) % 2)
    seat = np.arange(games) % 2
    learner_result = np.where(out["iter0.result"] == 3, 0, np.where(out["iter0.result"] == seat + 1, 1, -1))
    np.testing.assert_array_equal(learner_result, ro["result"])
    for key in ("obs", "mask", "action", "reward", "done", "game"):
        np.testing.assert_array_equal(out[f"iter0.{key}"], ro[key], err_msg=key)
    assert_blas_close(out["iter0.logp_old"], ro["logp_old"], "logp_old")
    assert_blas_close(out["iter0.value"], ro["value"], "value")
    assert_blas_close(out["iter0.adv"], ref["adv"], "adv")
    assert_blas_close(out["iter0.ret"], ref["ret"], "ret")
    # The update: the first minibatch sees identical parameters, later ones parameters that differ by
    # BLAS-level noise amplified through Adam, so the means get a looser bound (SPEC section 8).
    for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac", "grad_norm"):
        c, r = float(out[f"log.{key}"][0]), ref["stats"][key]
        assert abs(c - r) <= STATS_RTOL * abs(r) + 1e-6, f"log.{key}: {c} vs {r}"
    assert abs(out["log.explained_var"][0] - ref["stats"]["explained_variance"]) <= 1e-4


@pytest.mark.parametrize("game,arch,opp_t", [(0, 0, 1.0), (0, 1, 0.0), (1, 0, 0.5), (1, 1, 1.0)],
                         ids=CASE_IDS)
def test_train_iteration0_matches_naive(run, game, arch, opp_t):
    games, seed = (16, 11) if game == nv.TICTACTOE else (8, 12)
    spec = spec_of(game, arch, hidden=16, depth=2)
    rng = np.random.default_rng(seed)
    params = (nv.init_params(spec, seed) + rng.normal(0, 0.3, nv.n_params(spec))).astype(np.float32)
    out = run("train", train_case(game, spec, params, seed, games, **{"cfg.opp_temperature": opp_t}))
    cfg = {**nv.DEFAULTS, "games_per_iter": games, "opp_temperature": opp_t, "epochs": 2, "batch_size": 16,
           "lr": 3e-3, "iterations": 10, "pool_size": 3, "snapshot_interval": 1}
    zeros = np.zeros_like(params)
    ref = nv.ppo_iteration(game, params, zeros, zeros, 0, [params.copy()], spec, cfg, seed, 0)
    assert_iteration0_matches(out, ref, game, games)
    assert int(out["adam.t"]) == ref["t"]
    assert np.quantile(np.abs(out["params"] - ref["params"]), 0.99) <= 1e-5
    assert int(out["pool.size"]) == 2 and out["log.lr"][0] == 3e-3
    assert out["log.ent_coef"][0] == 0.01


# Random-opening curriculum (K plies) with a cosine entropy schedule over I = 3 iterations, 2 run:
# iteration 0 uses the peak, iteration 1 the midpoint. (game, arch, K, games, seed).
CURRICULUM_CASES = [(0, 0, 4, 16, 21), (0, 1, 8, 16, 22), (1, 0, 4, 8, 23), (1, 1, 8, 8, 24)]
CURRICULUM_IDS = ["ttt-K4", "ttt-K8", "c4-K4", "c4-K8"]


@pytest.mark.parametrize("game,arch,K,games,seed", CURRICULUM_CASES, ids=CURRICULUM_IDS)
def test_train_curriculum_and_entropy_schedule_match_naive(run, game, arch, K, games, seed):
    spec = spec_of(game, arch, hidden=16, depth=2)
    rng = np.random.default_rng(seed)
    params = (nv.init_params(spec, seed) + rng.normal(0, 0.3, nv.n_params(spec))).astype(np.float32)
    ent, ent_min, iterations = 0.05, 0.002, 3
    out = run("train", train_case(game, spec, params, seed, games, **{
        "cfg.ent_coef": ent, "cfg.ent_coef_min": ent_min, "cfg.ent_schedule": 1, "cfg.iterations": iterations,
        "cfg.random_opening_plies": K, "cfg.n_iterations": 2}))
    cfg = {**nv.DEFAULTS, "games_per_iter": games, "epochs": 2, "batch_size": 16, "lr": 3e-3,
           "iterations": iterations, "pool_size": 3, "snapshot_interval": 1, "ent_coef": ent,
           "ent_coef_min": ent_min, "ent_schedule": "cosine", "random_opening_plies": K}
    p, m, v, t, pool, refs = params, np.zeros_like(params), np.zeros_like(params), 0, [params.copy()], []
    for i in range(2):
        ref = nv.ppo_iteration(game, p, m, v, t, pool, spec, cfg, seed, i)
        p, m, v, t = ref["params"], ref["m"], ref["v"], ref["t"]
        pool = nv.pool_update(pool, p, i, cfg["snapshot_interval"], cfg["pool_size"])
        refs.append(ref)
    assert_iteration0_matches(out, refs[0], game, games)
    # The openings really happened: games start at different plies, so the seat test, the move index and
    # the action draws use each game's own ply.
    lengths = (out["iter0.moves"] >= 0).sum(axis=1)
    assert len(set(lengths.tolist())) > 1
    # The schedule: the twin's value for each iteration, exactly (one float64 formula).
    assert out["log.ent_coef"].tolist() == [r["ent_coef"] for r in refs]
    assert refs[0]["ent_coef"] == ent and ent_min < refs[1]["ent_coef"] < ent
    # Iteration 1 plays the same games (same counts and results) and the run ends at the same parameters.
    assert out["log.n_transitions"].tolist() == [float(len(r["adv"])) for r in refs]
    for r, (win, draw) in zip(refs, zip(out["log.learner_win"], out["log.learner_draw"], strict=True),
                              strict=True):
        res = r["rollout"]["result"]
        assert (win, draw) == (np.mean(res == 1), np.mean(res == 0))
    assert int(out["adam.t"]) == t and int(out["pool.size"]) == len(pool)
    assert np.quantile(np.abs(out["params"] - p), 0.99) <= 1e-5


def test_train_game_without_learner_move(run):
    # Tic-Tac-Toe, K = 8: some openings leave the opponent a winning first move, so the game ends with no
    # learner transition: no rows and no done flag for it, but its result still counts.
    spec = spec_of(nv.TICTACTOE, nv.MLP, hidden=8, depth=1)
    games, seed = 64, 5
    params = nv.init_params(spec, seed)
    out = run("train", train_case(0, spec, params, seed, games, **{"cfg.random_opening_plies": 8}))
    cfg = {**nv.DEFAULTS, "games_per_iter": games, "epochs": 2, "batch_size": 16, "iterations": 10,
           "pool_size": 3, "snapshot_interval": 1, "random_opening_plies": 8}
    ro = nv.rollout(0, params, [params.copy()], spec, cfg, seed, 0)
    silent = sorted(set(range(games)) - set(ro["game"].tolist()))
    assert silent, "no game without a learner move: pick another seed"
    np.testing.assert_array_equal(out["iter0.game"], ro["game"])
    np.testing.assert_array_equal(out["iter0.done"], ro["done"])
    assert int(out["iter0.done"].sum()) == games - len(silent)
    seat = np.arange(games) % 2
    for g in silent:                                   # the opponent won on its first move
        assert out["iter0.result"][g] == 2 - seat[g]
    assert out["log.learner_loss"][0] == np.mean(ro["result"] == -1)


def test_train_identical_for_any_thread_count(run):
    # 2048 games: batches reach the size where the rollout's OpenMP loops (the curriculum openings too)
    # actually run in parallel.
    spec = spec_of(nv.TICTACTOE, nv.RESMLP, hidden=16, depth=2)
    case = train_case(0, spec, nv.init_params(spec, 4), 4, 2048, **{
        "cfg.n_iterations": 2, "cfg.epochs": 1, "cfg.batch_size": 2048, "cfg.lr_schedule": 1,
        "cfg.iterations": 2, "cfg.snapshot_interval": 1, "cfg.pool_size": 2, "cfg.random_opening_plies": 6,
        "cfg.ent_schedule": 1, "cfg.ent_coef_min": 0.001})
    one, two = run("train", case, threads=1), run("train", case, threads=2)
    assert one.keys() == two.keys()
    for key in one:
        if not key.startswith("time."):
            np.testing.assert_array_equal(one[key], two[key], err_msg=key)
    assert np.all(one["time.iteration"] > 0) and np.all(one["time.iteration"] >= one["time.rollout"])
    assert one["log.lr"].tolist() == [3e-3, 0.0]
    assert one["log.ent_coef"].tolist() == [nv.learning_rate(i, 0.01, 0.001, 2, "cosine") for i in (0, 1)]
    assert int(one["pool.size"]) == 2


# ---------------------------------------------------------------------------------------------------------
# Files: format round trip, truncated, corrupted and foreign files, bad values
# ---------------------------------------------------------------------------------------------------------
def small_case_bytes():
    case = ff.prepare_case("kernels", {"game": 0, "net.spec": spec_of(0, 0, hidden=4, depth=1),
                                       "init.seed": 1, "replay.moves": [[4, 0, 8, -1]],
                                       "replay.length": [3]})
    return ff.encode(case)


def run_raw(binary, data, tmp_path, mode="kernels"):
    src = tmp_path / "case.nbp"
    src.write_bytes(data)
    cmd = [str(binary), mode, str(src), str(tmp_path / "out.nbp")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return proc.returncode, proc.stderr


def assert_one_line_error(rc, stderr, *needles):
    assert rc == 2, (rc, stderr)
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("numbaplay_c: error: "), stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_format_round_trip(tmp_path):
    tensors = {"a": np.float32(1.5), "b.f64": np.arange(6.0).reshape(2, 3), "c": np.arange(4, dtype=np.int32),
               "d": np.array([[-1, 2**40]], dtype=np.int64), "e": np.zeros((0, 3), np.uint8),
               "é.utf8": np.ones((1, 2, 1, 2), np.float32)}
    ff.write_tensors(tmp_path / "t.nbp", tensors)
    back = ff.read_tensors(tmp_path / "t.nbp")
    assert list(back) == list(tensors)
    for name, value in tensors.items():
        assert back[name].dtype == np.asarray(value).dtype and back[name].shape == np.shape(value)
        np.testing.assert_array_equal(back[name], value)
    assert (tmp_path / "t.nbp").read_bytes()[:16] == b"NBPLAY\x00\x01" + bytes([1, 0, 0, 0, 6, 0, 0, 0])
    with pytest.raises(CReferenceError, match="dtype"):
        ff.encode({"x": np.zeros(2, np.float16)})


def test_truncated_files_fail_cleanly(binary, tmp_path):
    data = small_case_bytes()
    assert run_raw(binary, data, tmp_path)[0] == 0
    for cut in range(len(data)):
        with pytest.raises(CReferenceError):
            ff.decode(data[:cut])
        if cut % 5 == 0 or cut > len(data) - 8:
            rc, err = run_raw(binary, data[:cut], tmp_path)
            assert_one_line_error(rc, err)
    assert_one_line_error(*run_raw(binary, data[:len(data) - 3], tmp_path), "truncated")


def test_corrupted_and_foreign_files_fail_cleanly(binary, tmp_path):
    data = small_case_bytes()
    name_len = 16                                                 # first record: name length of "game"
    dtype_at = name_len + 4 + len("game")
    cases = {
        "bad magic": (0, b"XBPLAY"), "unsupported version": (8, b"\x02"),
        "tensors but only": (12, b"\xff\xff"),
        "name length": (name_len, b"\x00\x01"), "unknown dtype": (dtype_at, b"\x09"),
        "ndim": (dtype_at + 4, b"\x07"), "not valid UTF-8": (name_len + 4, b"\xff"),
    }
    for needle, (at, patch) in cases.items():
        bad = data[:at] + patch + data[at + len(patch):]
        assert_one_line_error(*run_raw(binary, bad, tmp_path), needle)
        with pytest.raises(CReferenceError, match=needle):
            ff.decode(bad)
    assert_one_line_error(*run_raw(binary, data + b"\x00", tmp_path), "trailing bytes")
    assert_one_line_error(*run_raw(binary, b"#!/bin/sh\necho not a tensor file\n", tmp_path), "bad magic")
    assert_one_line_error(*run_raw(binary, data, tmp_path, mode="train"), "missing tensor 'params'")
    # Random byte flips anywhere: a clean exit 0 or 2, never a crash.
    rng = np.random.default_rng(0)
    for _ in range(60):
        bad = bytearray(data)
        for pos in rng.integers(0, len(bad), 3):
            bad[pos] = int(rng.integers(0, 256))
        rc, err = run_raw(binary, bytes(bad), tmp_path)
        assert rc in (0, 2), (rc, err)
        if rc == 2:
            assert_one_line_error(rc, err)


def test_bad_values_name_the_tensor(run):
    spec, params, batch, adam = batch_case(0, 0, n=5, seed=1)
    good = {"game": 0, "net.spec": spec, "params": params, **{f"batch.{k}": v for k, v in batch.items()},
            **{f"cfg.{k}": v for k, v in LOSS_CFG.items()}, "cfg.lr": 1e-3,
            **{f"adam.{k}": v for k, v in adam.items()}}
    illegal = batch["action"].copy()
    illegal[2] = int(np.flatnonzero(batch["mask"][2] == 0)[0])
    bad_cases = {
        "batch.action[2]": {**good, "batch.action": illegal},
        "tensor 'params' has shape": {**good, "params": params[:-1]},
        "unknown game id 7": {**good, "game": 7},
        "obs_size": {**good, "net.spec": spec_of(1, 0)},
        "must be 1 on the last transition": {"game": 0, "net.spec": spec, "gae.reward": [0.0],
                                             "gae.value": [0.0], "gae.done": [0], "cfg.gamma": 0.9,
                                             "cfg.lam": 0.9},
        "ply 4 is illegal": {"game": 0, "net.spec": spec, "replay.moves": [[0, 1, 2, 2]],
                             "replay.length": [4]},
        "is not finite": {**good, "batch.adv": np.full(5, np.nan, np.float32)},
    }
    for needle, case in bad_cases.items():
        with pytest.raises(CReferenceError, match="exit 2") as info:
            run("kernels", case)
        assert needle in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(CReferenceError, match="games_per_iter"):
        run("train", train_case(0, spec, params, 1, 7))
    base = train_case(0, spec, params, 1, 8)
    train_bad = {
        "cfg.random_opening_plies = 41 is out of range [0, 40]": {"cfg.random_opening_plies": 41},
        "cfg.random_opening_plies = -1 is out of range": {"cfg.random_opening_plies": -1},
        "cfg.ent_schedule = 2 is out of range [0, 1]": {"cfg.ent_schedule": 2},
        "cfg.ent_coef_min = nan is out of range": {"cfg.ent_coef_min": np.nan},
    }
    for needle, override in train_bad.items():
        with pytest.raises(CReferenceError, match="exit 2") as info:
            run("train", {**base, **override})
        assert needle in str(info.value) and "\n" not in str(info.value)
    for name in TRAIN_INPUTS:                          # required, not defaulted
        with pytest.raises(CReferenceError, match=f"missing tensor '{name}'"):
            run("train", {k: v for k, v in base.items() if k != name})
    with pytest.raises(CReferenceError, match="has no tensor"):
        run("kernels", {"game": 0, "net.spec": spec, "batch.typo": [1.0]})



def test_another_build_runs_through_numbaplay_c_binary(monkeypatch, tmp_path, binary):
    """NUMBAPLAY_C_BINARY (e.g. `make -C c_reference sanitize`'s build) is used as given and never rebuilt;
    one that is not an executable file is a one-line CReferenceError."""
    copy = tmp_path / "other_numbaplay_c"
    copy.write_bytes(binary.read_bytes())
    copy.chmod(0o755)
    monkeypatch.setenv("NUMBAPLAY_C_BINARY", str(copy))
    assert cbuild.build_binary() == copy
    spec = spec_of(nv.TICTACTOE, nv.MLP)
    out = cbuild.run_binary("kernels", {"game": nv.TICTACTOE, "net.spec": spec, "init.seed": 3})
    np.testing.assert_array_equal(out["init.params"], nv.init_params(spec, 3))
    copy.chmod(0o644)
    with pytest.raises(CReferenceError, match="is not an executable file"):
        cbuild.build_binary()
    monkeypatch.setenv("NUMBAPLAY_C_BINARY", str(tmp_path / "missing"))
    with pytest.raises(CReferenceError, match="NUMBAPLAY_C_BINARY="):
        cbuild.build_binary()
