"""Rollout: identical for 1 and 2 threads, equal to the one-game-at-a-time twin, game-major buffers."""
import naive
import numba
import numpy as np
import pytest

from numbaplay.nn.rows import INFER_ROWS
from numbaplay.ppo.trainer import Trainer
from numbaplay.presets import preset


def small_cfg(game, games, **kw):
    base = preset("tictactoe" if game == "tictactoe" else "connect4")
    return base.replace(hidden=16, depth=2, games_per_iter=games, batch_size=128, pool_size=4,
                        snapshot_interval=1, **kw)


def run_iterations(cfg, threads, n_iter):
    old = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        tr = Trainer(cfg)
        out = []
        for _ in range(n_iter):
            n = tr.rollout()
            out.append((tr.moves.copy(), tr.opponent.copy(), tr.obs[:n].copy(), tr.logp[:n].copy(),
                        tr.value[:n].copy()))
            tr.advantages(n)
            tr.update(n)
            tr.pool.append(tr.params.copy())
            tr.iteration += 1
        return out, tr.params.copy()
    finally:
        numba.set_num_threads(old)


def assert_same_for_1_and_2_threads(game, arch, **kw):
    # Enough games that learner batches are cut into several inference pieces.
    games = 4 * INFER_ROWS if game == "tictactoe" else 2 * INFER_ROWS
    cfg = small_cfg(game, games, arch=arch).replace(**kw)
    one, p1 = run_iterations(cfg, 1, 2)
    two, p2 = run_iterations(cfg, 2, 2)
    for a, b in zip(one, two, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(p1, p2)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("game,arch,hidden,batch_size,units", [("tictactoe", "mlp", 16, 128, False),
                                                               ("tictactoe", "mlp", 32, 48, True),
                                                               ("connect4", "resmlp", 16, 128, False)])
def test_rollout_and_update_identical_for_1_and_2_threads(game, arch, hidden, batch_size, units):
    """Both update designs (row shards; unit halves, whose two threads share one region) give the same
    bits with 1 and 2 threads; the unit-half case has two shards a minibatch."""
    from numbaplay.ppo.trainer import net_spec
    from numbaplay.ppo.update import unit_halves
    cfg = small_cfg(game, 8, arch=arch).replace(hidden=hidden, batch_size=batch_size)
    assert unit_halves(net_spec(cfg).array(), batch_size) == units
    assert_same_for_1_and_2_threads(game, arch, hidden=hidden, batch_size=batch_size)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("game,arch,update_shards", [("connect4", "resmlp", 1), ("connect4", "resmlp", 5),
                                                     ("tictactoe", "mlp", 4)])
def test_update_with_other_shard_counts_identical_for_1_and_2_threads(game, arch, update_shards):
    """`update_shards` other than the default: one shard (no parallel region), and more shards than
    threads (each of 2 threads takes several; 128-row minibatches give 5 shards of 25 or 26 rows)."""
    assert_same_for_1_and_2_threads(game, arch, update_shards=update_shards)


def _one_update(cfg):
    tr = Trainer(cfg)
    n = tr.rollout()
    tr.advantages(n)
    stats = tr.update(n)
    return tr.params.copy(), stats


def test_update_shards_change_only_the_summation_order():
    """The same update with 2 and 5 shards: the gradient is the same sum cut differently, so the
    parameters after one iteration agree within the BLAS tolerance, and the per-minibatch rows and
    statistics agree too (float64 sums in another order)."""
    from test_kernels import assert_tensor_close
    cfg = small_cfg("connect4", 64, arch="resmlp")
    p2, s2 = _one_update(cfg)
    p5, s5 = _one_update(cfg.replace(update_shards=5))
    assert not np.array_equal(p2, p5)  # a different cut: the bits move
    assert_tensor_close(p5, p2, "params")
    np.testing.assert_array_equal(s2[:, 7], s5[:, 7])  # rows per minibatch
    np.testing.assert_allclose(s5[:, :7], s2[:, :7], rtol=1e-4, atol=1e-6)


def test_unit_half_step_ignores_update_shards():
    """The unit-half step (a small mlp) always cuts two shards: `update_shards` does not change a bit."""
    from numbaplay.ppo.trainer import net_spec
    from numbaplay.ppo.update import unit_halves
    cfg = small_cfg("tictactoe", 64, arch="mlp").replace(hidden=32, batch_size=48)
    assert unit_halves(net_spec(cfg).array(), cfg.batch_size)
    p2, s2 = _one_update(cfg)
    p7, s7 = _one_update(cfg.replace(update_shards=7))
    np.testing.assert_array_equal(p2, p7)
    np.testing.assert_array_equal(s2, s7)


@pytest.mark.parametrize("game", ["tictactoe", "connect4"])
def test_rollout_identical_for_any_job_count(game):
    """The jobs a step's inference and moves split into (the thread count by default) only share the work:
    1, 2, 3 and 7 jobs play the same games, on however many threads run them."""
    cfg = small_cfg(game, 3 * INFER_ROWS + 6, random_opening_plies=2)
    tr = Trainer(cfg)
    rng = np.random.default_rng(3)
    tr.pool = [tr.params + rng.normal(scale=0.3, size=tr.params.shape).astype(np.float32) for _ in range(3)]
    runs = []
    for n_jobs in (1, 2, 3, 7):
        n = tr.rollout(n_jobs)
        runs.append((tr.moves.copy(), tr.obs[:n].copy(), tr.logp[:n].copy(), tr.value[:n].copy()))
    for other in runs[1:]:
        for x, y in zip(runs[0], other, strict=True):
            np.testing.assert_array_equal(x, y)


def test_job_cuts_split_pieces_into_contiguous_runs_of_about_equal_rows():
    from numbaplay.nn.rows import PIECE_COST_ROWS, inference_cuts, job_cuts
    rng = np.random.default_rng(0)
    for _ in range(200):
        sizes = np.concatenate([np.diff(inference_cuts(int(n))) for n in rng.integers(1, 700, rng.integers(1, 6))])
        lo = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        hi = lo + sizes
        cost = sizes + PIECE_COST_ROWS
        for n_jobs in (1, 2, 3, 5):
            cuts = job_cuts(lo, hi, n_jobs)
            assert cuts.shape == (n_jobs + 1,) and cuts[0] == 0 and cuts[-1] == len(sizes)
            assert np.all(np.diff(cuts) >= 0)
            # Each run ends within one piece of its even share of the total cost.
            done = np.concatenate([[0], np.cumsum(cost)])[cuts]
            share = cost.sum() * np.arange(n_jobs + 1) / n_jobs
            assert np.all(np.abs(done - share) <= cost.max())


@pytest.mark.parametrize("game,opening", [("tictactoe", 0), ("tictactoe", 6), ("connect4", 0), ("connect4", 8)])
def test_rollout_matches_twin(game, opening):
    cfg = small_cfg(game, 24, opp_temperature=0.7, draw_reward=0.25, random_opening_plies=opening)
    tr = Trainer(cfg)
    rng = np.random.default_rng(5)
    # A pool of three different networks, and a learner that differs from all of them.
    tr.pool = [tr.params.copy()] + [tr.params + rng.normal(scale=0.3, size=tr.params.shape).astype(np.float32)
                                    for _ in range(2)]
    tr.params = tr.params + rng.normal(scale=0.3, size=tr.params.shape).astype(np.float32)
    tr.iteration = 3
    n = tr.rollout()
    spec = tuple(int(v) for v in tr.spec_arr)
    ref = naive.rollout(tr.game.gid, tr.params, tr.pool, spec, cfg.to_dict(), cfg.seed, 3)
    np.testing.assert_array_equal(tr.opponent, ref["opponent"])
    for g, moves in enumerate(ref["moves"]):
        assert list(tr.moves[g][tr.moves[g] >= 0]) == moves, f"game {g}"
    assert n == ref["action"].shape[0]
    np.testing.assert_array_equal(tr.obs[:n], ref["obs"])
    np.testing.assert_array_equal(tr.mask[:n], ref["mask"])
    np.testing.assert_array_equal(tr.action[:n], ref["action"])
    np.testing.assert_array_equal(tr.reward[:n], ref["reward"])
    np.testing.assert_array_equal(tr.done[:n], ref["done"])
    np.testing.assert_array_equal(tr.result, ref["result"])
    np.testing.assert_allclose(tr.logp[:n], ref["logp_old"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(tr.value[:n], ref["value"], rtol=1e-4, atol=1e-5)


def test_buffer_is_game_major_with_one_done_per_game():
    cfg = small_cfg("connect4", 16)
    tr = Trainer(cfg)
    n = tr.rollout()
    done = tr.done[:n]
    assert done.sum() == 16 and done[n - 1] == 1
    # Between two done flags lie one game's learner moves, in ply order: stones only ever get added.
    starts = np.r_[0, np.flatnonzero(done)[:-1] + 1]
    for g, s in enumerate(starts):
        e = np.flatnonzero(done[s:])[0] + s
        stones = tr.obs[s:e + 1].sum(axis=1)
        assert np.all(np.diff(stones) > 0), g
        assert tr.slot_count[g] == e - s + 1


OTHER_BACKEND_CHILD = r"""
import sys
sys.path.insert(0, {tests!r})
from test_rollout import assert_same_for_1_and_2_threads
from numbaplay.nn.blas import kernel_blas
assert kernel_blas() == {backend!r}, kernel_blas()
assert_same_for_1_and_2_threads("tictactoe", "mlp")
assert_same_for_1_and_2_threads("connect4", "resmlp")
print("identical")
"""


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_identical_for_1_and_2_threads_on_the_other_blas_backend():
    """The suite's process runs one kernel BLAS; the other one (where installed) gets the same check."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from numbaplay.nn.blas import _find_mkl, kernel_blas

    other = "openblas" if kernel_blas() == "mkl" else "mkl"
    if other == "mkl" and _find_mkl() is None:
        pytest.skip("the mkl package is not installed here")
    code = OTHER_BACKEND_CHILD.format(tests=str(Path(__file__).parent), backend=other)
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "NUMBAPLAY_BLAS": other},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "identical"


def test_pool_array_follows_the_pool():
    # The stacked pool the rollout kernel reads is kept between rollouts and made again whenever the
    # pool's entries change, however they change: a snapshot, the oldest non-initial one dropped, a new list.
    from numbaplay.ppo.trainer import update_pool

    tr = Trainer(small_cfg("tictactoe", 8).replace(pool_size=3))
    size = tr.params.shape[0]

    def entries():
        stacked = tr.pool_array()
        for row in stacked:  # every entry on a cache line
            assert row.ctypes.data % 64 == 0
        return stacked[:, :size]

    first = tr.pool_array()
    assert tr.pool_array() is first  # unchanged pool: no new copy
    rng = np.random.default_rng(0)
    for i in range(6):
        tr.params += rng.standard_normal(tr.params.shape).astype(np.float32)
        update_pool(tr.pool, tr.params, i, 1, 3)
        np.testing.assert_array_equal(entries(), np.stack(tr.pool))
    assert len(tr.pool) == 3
    tr.pool = [p + 1.0 for p in tr.pool]
    np.testing.assert_array_equal(entries(), np.stack(tr.pool))
    tr.pool.append(tr.params.copy())
    np.testing.assert_array_equal(entries(), np.stack(tr.pool))
    state = tr.state_dict()["pool"]
    state[:] = 0.0  # a checkpoint's copy: writing into it leaves the rollout's pool alone
    np.testing.assert_array_equal(entries(), np.stack(tr.pool))
