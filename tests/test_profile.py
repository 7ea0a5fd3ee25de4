"""The profiler: its timed loops equal the fused kernels bit for bit, its FLOP counts equal a hand count,
`numbaplay profile --json` reports what it promises, and the machine measurement is cached."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from numbaplay.cli import main
from numbaplay.nn.params import NetSpec, n_params
from numbaplay.ppo.trainer import Trainer
from numbaplay.presets import preset
from numbaplay.profile import flops, machine
from numbaplay.profile.phases import Clock, rollout_profiled, update_profiled

ROLLOUT_OUT = ("obs", "mask", "action", "logp", "value", "reward", "done", "moves", "status", "opponent",
               "result", "slot_count", "slot_obs", "slot_logp")


def small_cfg(game, arch, opening, **kw):
    small = dict(arch=arch, hidden=16, depth=3, games_per_iter=24, batch_size=32, epochs=2, pool_size=4,
                 snapshot_interval=1, opp_temperature=0.7, random_opening_plies=opening)
    return preset(game).replace(**{**small, **kw})


# The last case: minibatches of about 96 rows in 3 shards (update_shards), not the default 2.
@pytest.mark.parametrize("game,arch,opening,extra", [("tictactoe", "mlp", 0, {}), ("tictactoe", "resmlp", 3, {}),
                                                     ("connect4", "resmlp", 0, {}), ("connect4", "mlp", 6, {}),
                                                     ("connect4", "resmlp", 0, {"batch_size": 96, "update_shards": 3})])
def test_profiled_loops_equal_fused_kernels(game, arch, opening, extra):
    cfg = small_cfg(game, arch, opening, **extra)
    fused, timed = Trainer(cfg), Trainer(cfg)
    rng = np.random.default_rng(1)
    # A learner that differs from every pool entry, and several pool entries, so every batch kind runs.
    noise = [rng.normal(scale=0.3, size=fused.params.shape).astype(np.float32) for _ in range(3)]
    for tr in (fused, timed):
        tr.pool = [tr.params.copy(), tr.params + noise[0], tr.params + noise[1]]
        tr.params = tr.params + noise[2]
    for _ in range(2):
        clock = Clock()
        n = fused.rollout()
        counts = rollout_profiled(timed, clock)
        assert counts.transitions == n
        for name in ROLLOUT_OUT:
            np.testing.assert_array_equal(getattr(fused, name), getattr(timed, name), err_msg=name)
        if opening == 0:  # every move of every game went through a forward pass
            assert counts.rows == int((timed.moves >= 0).sum())
        for tr in (fused, timed):
            tr.advantages(n)
        stats = fused.update(n)
        np.testing.assert_array_equal(update_profiled(timed, n, clock), stats)
        assert fused.t == timed.t
        for name in ("params", "m", "v", "grad"):
            np.testing.assert_array_equal(getattr(fused, name), getattr(timed, name), err_msg=name)
        for tr in (fused, timed):
            tr.pool.append(tr.params.copy())
            tr.iteration += 1
        assert set(clock.wall) <= {"rollout/inference", "rollout/game_logic", "update/forward",
                                   "update/backward", "update/adam", "update/other"}


@pytest.mark.parametrize("arch", ["mlp", "resmlp"])
def test_gemm_flops_equal_a_hand_count(arch):
    # obs 18, H 4, L 2, A 9: forward GEMMs per row are W_in (4 x 18), one hidden (4 x 4), pi.W (9 x 4).
    spec = NetSpec(arch, 18, 4, 2, 9)
    s = flops.shape_of(spec, n_params(spec))
    per_row_fwd = 2 * (4 * 18 + 4 * 4 + 9 * 4)  # 248
    # backward: the same weight gradients, plus input gradients of pi and the hidden layer (not W_in)
    per_row_bwd = 2 * (4 * 18 + 4 * 4 + 9 * 4) + 2 * (4 * 4 + 9 * 4)  # 352
    assert flops.forward_gemm_flops(s, 3) == 3 * 248 == 3 * per_row_fwd
    assert flops.backward_gemm_flops(s, 3) == 3 * 352 == 3 * per_row_bwd
    assert flops.forward_gemm_flops(s, 0) == 0
    work = flops.IterationWork(games=4, max_plies=9, transitions=10, rollout_rows=20, rollout_nets=2,
                               update_rows=40, update_steps=4)
    phases = flops.phase_work(s, work)
    assert phases["rollout/inference"]["gemm_flops"] == 20 * 248
    assert phases["update/forward"]["gemm_flops"] == 40 * 248
    assert phases["update/backward"]["gemm_flops"] == 40 * 352
    assert phases["update/adam"]["bytes"] == 7 * 4 * n_params(spec)
    for name in ("rollout/game_logic", "gae", "update/adam", "update/other"):
        assert phases[name]["gemm_flops"] == 0


@pytest.fixture
def small_cache(tmp_path, monkeypatch):
    """A machine cache in tmp_path, measured with tiny sizes so that tests stay fast."""
    monkeypatch.setenv("NUMBAPLAY_CACHE_DIR", str(tmp_path / "cache"))
    entry, cached = machine.machine_peaks(gemm_n=64, array_mb=1)
    return entry, cached


def test_machine_measurement_is_cached(small_cache, tmp_path, monkeypatch):
    entry, cached = small_cache
    assert not cached
    assert set(entry["gemm_gflops"]) >= {"1"} and entry["gemm_gflops"]["1"] > 0
    assert entry["bandwidth_gbs"]["1"] > 0 and entry["key"] == machine.machine_key()

    def no_measuring(*args, **kwargs):
        raise AssertionError("the cached entry should have been reused")

    monkeypatch.setattr(machine, "measure", no_measuring)
    again, cached = machine.machine_peaks()
    assert cached and again == entry
    stored = json.loads((tmp_path / "cache" / machine.CACHE_FILE).read_text())
    assert stored[machine.machine_key()] == entry


def test_profile_json_smoke(small_cache, tmp_path):
    record = tmp_path / "optimisations.jsonl"
    pdf = tmp_path / "profile.pdf"
    config = tmp_path / "shards.toml"
    config.write_text("update_shards = 3\nepochs = 1\n")
    res = CliRunner().invoke(main, ["profile", "tictactoe", "--preset", "tictactoe", "--games", "16",
                                    "--iterations", "1", "--skip", "1", "--json", "--record", "smoke",
                                    "--record-file", str(record), "--pdf", str(pdf), "--config", str(config)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["config"]["update_shards"] == 3 and data["config"]["epochs"] == 1
    assert data["preset"] == "tictactoe + shards.toml" and f"--config {config}" in data["command"]
    for key in ("iteration_s", "phases", "transitions_per_iter", "floor_s", "floor_ratio", "phase_stats",
                "jit_compile_s", "transitions_per_s", "games_per_s", "machine"):
        assert key in data, key
    assert data["identical_to_fused"] is True
    assert set(data["phases"]) == {"rollout/inference", "rollout/game_logic", "gae", "update/forward",
                                   "update/backward", "update/adam", "update/other", "evaluation"}
    assert data["machine_cached"] is True and data["transitions_per_iter"] > 0 and data["floor_s"] > 0
    assert data["phase_stats"]["update/forward"]["gemm_flops"] > 0
    assert data["state_start"]["iteration"] == 1 and data["state_end"]["iteration"] == 3
    assert 0 <= data["update_one_shard_steps_per_iter"] <= data["update_steps_per_iter"]
    entry = json.loads(record.read_text().splitlines()[-1])
    assert entry["step"] == "smoke" and entry["phases"] == data["phases"] and "uptime" in entry
    assert pdf.read_bytes().startswith(b"%PDF")


def test_profile_refuses_an_unknown_game(small_cache):
    res = CliRunner().invoke(main, ["profile", "chess", "--iterations", "1"])
    assert res.exit_code == 2 and "unknown game" in res.output


def test_profile_says_how_many_steps_ran_on_one_thread():
    from numbaplay.cli.profile import _one_shard_note
    from numbaplay.nn.rows import shard_cuts

    note = _one_shard_note({"update_one_shard_steps_per_iter": 3.0})
    assert "3 of them on one thread" in note and "under 48 rows" in note
    assert shard_cuts(47, 2).shape[0] == 2 and shard_cuts(48, 2).shape[0] == 3  # the 48 the note names
    assert _one_shard_note({"update_one_shard_steps_per_iter": 0.0}) == ""
    assert _one_shard_note({}) == ""  # a record written before the field existed


def test_profile_takes_a_config_or_a_checkpoint_not_both(small_cache, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("update_shards = 4\n")
    res = CliRunner().invoke(main, ["profile", "tictactoe", "--config", str(config), "--checkpoint",
                                    str(tmp_path / "x.npz")])
    assert res.exit_code == 2 and "choose one" in res.output and "Traceback" not in res.output
    bad = tmp_path / "bad.toml"
    bad.write_text("update_shards = 65\n")
    res = CliRunner().invoke(main, ["profile", "tictactoe", "--config", str(bad)])
    assert res.exit_code == 2 and "update_shards" in res.output
