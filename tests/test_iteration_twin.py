"""A whole training iteration of `Trainer` (rollout, GAE, every minibatch step of every epoch) against the
twin's `naive.ppo_iteration`, for each update design (row shards, unit halves) and with more games than
one inference piece holds; and the update's shuffle and minibatch cuts against the twin's, exactly."""
import naive
import numpy as np
import pytest

from numbaplay.nn.rows import INFER_ROWS
from numbaplay.ppo.trainer import Trainer, net_spec
from numbaplay.ppo.update import minibatch_bounds, unit_halves
from numbaplay.presets import preset
from numbaplay.rng import SHUFFLE, permutation, stream_key

# (game, arch, hidden, games, batch_size, unit halves): mlp with a large minibatch takes row shards, with
# a small one unit halves; resmlp always row shards. The last two cases play more games than an inference
# piece holds (INFER_ROWS rows), so each step's batches are cut into several pieces.
CASES = [("tictactoe", "mlp", 16, 48, 64, False),
         ("tictactoe", "mlp", 16, 48, 16, True),
         ("connect4", "resmlp", 16, 16, 64, False),
         ("tictactoe", "resmlp", 16, 2 * INFER_ROWS + 10, 256, False),
         ("connect4", "mlp", 16, INFER_ROWS + 6, 256, False)]
IDS = ["ttt-mlp-shards", "ttt-mlp-units", "c4-resmlp", "ttt-resmlp-pieces", "c4-mlp-pieces"]
ITERATION = 1  # past iteration 0, so that the cosine schedules have moved off their peak


def trainer_and_twin(game, arch, hidden, games, batch_size):
    cfg = preset(game).replace(arch=arch, hidden=hidden, depth=2, games_per_iter=games, batch_size=batch_size,
                               epochs=2, pool_size=4, snapshot_interval=1, seed=7, iterations=10)
    tr = Trainer(cfg)
    rng = np.random.default_rng(7)
    start = (tr.params + rng.normal(scale=0.3, size=tr.params.shape)).astype(np.float32)
    opponent = (tr.params + rng.normal(scale=0.3, size=tr.params.shape)).astype(np.float32)
    tr.params[:] = start
    tr.pool = [opponent.copy(), start.copy()]
    tr.iteration = ITERATION
    n = tr.rollout()
    tr.advantages(n)
    lr, ent = tr.learning_rate(), tr.entropy_coef()
    stats = tr.update(n)
    metrics = tr._metrics(n, stats, lr, ent)
    spec = tuple(int(v) for v in tr.spec_arr)
    zeros = np.zeros_like(start)
    ref = naive.ppo_iteration(tr.game.gid, start, zeros, zeros, 0, [opponent, start], spec, cfg.to_dict(),
                              cfg.seed, ITERATION)
    return tr, n, metrics, ref


@pytest.mark.parametrize("game,arch,hidden,games,batch_size,units", CASES, ids=IDS)
def test_iteration_matches_twin(game, arch, hidden, games, batch_size, units):
    """The same games exactly, the transitions within float32 rounding, and after all the update's steps
    the same parameters, Adam moments and logged means within the bounds SPEC section 8 allows a float32
    implementation against the float64 twin."""
    tr, n, metrics, ref = trainer_and_twin(game, arch, hidden, games, batch_size)
    assert unit_halves(tr.spec_arr, batch_size) == units
    ro = ref["rollout"]
    # The rollout: games and buffers exactly, network outputs within float32 rounding.
    np.testing.assert_array_equal(tr.opponent, ro["opponent"])
    for g, moves in enumerate(ro["moves"]):
        assert list(tr.moves[g][tr.moves[g] >= 0]) == moves, f"game {g}"
    assert n == ro["action"].shape[0] and n > 2 * batch_size  # several minibatches an epoch
    for key, mine in (("obs", tr.obs), ("mask", tr.mask), ("action", tr.action), ("reward", tr.reward),
                      ("done", tr.done)):
        np.testing.assert_array_equal(mine[:n], ro[key], err_msg=key)
    np.testing.assert_array_equal(tr.result, ro["result"])
    np.testing.assert_allclose(tr.logp[:n], ro["logp_old"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(tr.value[:n], ro["value"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(tr.adv[:n], ref["adv"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(tr.ret[:n], ref["ret"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(tr.adv_norm[:n], ref["adv_norm"], rtol=1e-3, atol=1e-4)
    # The schedules and the update.
    assert metrics["charts/lr"] == ref["lr"] and metrics["charts/ent_coef"] == ref["ent_coef"]
    assert tr.t == ref["t"] == 2 * len(naive.minibatch_slices(n, batch_size))
    moved = np.abs(ref["params"] - tr.pool[1])
    err = np.abs(tr.params - ref["params"])
    # Measured: at most 1.2e-7 apart (99% of entries within 3e-8), while the update moved them by up to 6e-3
    # to 3e-2; the bounds leave a hundredfold margin for other BLAS builds.
    assert np.quantile(err, 0.99) <= 1e-6 and err.max() <= 1e-5, (np.quantile(err, 0.99), err.max())
    assert err.max() < 1e-2 * moved.max()
    np.testing.assert_allclose(tr.m, ref["m"], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(tr.v, ref["v"], rtol=1e-3, atol=1e-8)
    for key, twin in (("policy", "policy_loss"), ("value", "value_loss"), ("entropy", "entropy"),
                      ("approx_kl", "approx_kl"), ("clip_frac", "clip_frac"), ("grad_norm", "grad_norm")):
        mine, theirs = metrics[f"loss/{key}"], ref["stats"][twin]
        assert abs(mine - theirs) <= 1e-4 * abs(theirs) + 1e-7, f"{key}: {mine} vs {theirs}"
    assert abs(metrics["loss/explained_variance"] - ref["stats"]["explained_variance"]) <= 1e-4


@pytest.mark.parametrize("n", [0, 1, 2, 3, 17, 64, 255, 1000])
def test_shuffle_and_minibatch_cuts_match_twin_exactly(n):
    for seed, iteration, epoch in ((0, 0, 0), (7, 3, 1), (2**40 + 5, 999, 3)):
        perm = np.empty(n, np.int64)
        permutation(perm, np.uint64(stream_key(seed, SHUFFLE, iteration, epoch)))
        np.testing.assert_array_equal(perm, naive.permutation(n, seed, iteration, epoch))
    for batch_size in (1, 2, 16, 64, 256, 4096):
        cuts = minibatch_bounds(n, batch_size)
        twin = naive.minibatch_slices(n, batch_size)
        assert [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:], strict=True)] == twin


def test_unit_half_rule_matches_the_twins():
    """The kernels and the twin pick the same update design (it fixes the gradient norm's summation
    order) for every preset's network and a range of minibatch sizes."""
    for name in ("tictactoe", "ttt-seed", "connect4", "c4-seed"):
        spec_arr = net_spec(preset(name)).array()
        spec = tuple(int(v) for v in spec_arr)
        for batch_size in (8, 48, 64, 256, 1024):
            assert unit_halves(spec_arr, batch_size) == naive.unit_halves(spec, batch_size), (name, batch_size)


@pytest.mark.parametrize("arch,batch_size", [("mlp", 16), ("mlp", 128), ("resmlp", 64)])
def test_iteration_without_transitions_takes_no_step(arch, batch_size):
    """When every game ends before the learner moves (a curriculum opening can leave the opponent a winning
    first move), the update has no minibatch: no Adam step, as the twin and the C reference, and no
    loss to log (None, not NaN)."""
    cfg = preset("tictactoe").replace(arch=arch, hidden=16, depth=2, games_per_iter=16, batch_size=batch_size,
                                      epochs=2)
    tr = Trainer(cfg)
    n = tr.rollout()
    tr.advantages(n)
    tr.update(n)  # non-zero Adam moments: a step with a zero gradient would still move the parameters
    params, m, v, t = tr.params.copy(), tr.m.copy(), tr.v.copy(), tr.t
    stats = tr.update(0)
    assert stats.shape == (0, 8) and tr.t == t
    for mine, before in ((tr.params, params), (tr.m, m), (tr.v, v)):
        np.testing.assert_array_equal(mine, before)
    metrics = tr._metrics(0, stats, tr.learning_rate(), tr.entropy_coef())
    assert all(metrics[f"loss/{k}"] is None for k in ("policy", "value", "entropy", "approx_kl", "clip_frac",
                                                      "total", "grad_norm", "explained_variance"))
