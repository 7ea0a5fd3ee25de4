"""The CLI: smoke tests through CliRunner and a real subprocess; bad input gives one line and exit 2."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from numbaplay import checkpoint
from numbaplay.cli import main

FAST = ["--iterations", "2", "--eval-every", "1", "--no-report"]


def run(args, **kw):
    return CliRunner().invoke(main, args, catch_exceptions=False, **kw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "ttt"
    res = run(["train", "tictactoe", "--out", str(out), "--seed", "3", *FAST])
    assert res.exit_code == 0, res.output
    return out


def test_train_writes_the_run_folder(trained):
    cfg = json.loads((trained / "config.json").read_text())
    assert cfg["seed"] == 3 and cfg["iterations"] == 2 and cfg["preset"] == "tictactoe"
    lines = [json.loads(x) for x in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in lines] == [0, 1]
    for key in ("loss/policy", "loss/value", "loss/entropy", "loss/approx_kl", "loss/clip_frac",
                "loss/grad_norm", "time/rollout_s", "time/update_s", "eval/exploitability_greedy"):
        assert key in lines[-1], key
    for name in ("latest.npz", "final.npz"):
        ck = checkpoint.load(trained / "checkpoints" / name)
        assert ck["meta"]["iteration"] == 2 and ck["meta"]["game"] == "tictactoe"
        assert ck["adam_t"] > 0
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["iterations_run"] == 2


def test_eval_json_and_table(trained):
    res = run(["eval", str(trained / "checkpoints" / "final.npz"), "--json"])
    data = json.loads(res.output)
    from numbaplay.agent import load_agent
    from numbaplay.eval.tictactoe_exact import evaluate_tictactoe

    direct = evaluate_tictactoe(load_agent(trained / "checkpoints" / "final.npz").logits_fn)
    assert data["game"] == "tictactoe" and data["exploitability_greedy"] == direct["exploitability_greedy"]
    assert data["optimal_move_rate"] == direct["optimal_move_rate"]
    table = run(["eval", str(trained / "checkpoints" / "final.npz")]).output
    assert "exploitability_sampled" in table


def test_same_seed_same_output(trained, tmp_path):
    out = tmp_path / "again"
    assert run(["train", "tictactoe", "--out", str(out), "--seed", "3", *FAST]).exit_code == 0
    a = checkpoint.load(trained / "checkpoints" / "final.npz")["params"]
    b = checkpoint.load(out / "checkpoints" / "final.npz")["params"]
    np.testing.assert_array_equal(a, b)


def test_load_agent_api(trained):
    import numbaplay

    agent = numbaplay.load_agent(trained / "checkpoints" / "final.npz")
    assert agent.game == "tictactoe"
    p = agent.probs("15")
    assert p.shape == (9,) and p[0] == 0.0 and p[4] == 0.0
    assert abs(p.sum() - 1.0) < 1e-12
    assert -1.0 <= agent.value("") <= 1.0


def _one_line_exit_2(res):
    assert res.exit_code == 2, res.output
    err = res.stderr if res.stderr_bytes is not None else res.output
    lines = [x for x in err.strip().splitlines() if x]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("args,needle", [
    (["train", "chess"], "unknown game"),
    (["train", "tictactoe", "--preset", "nope"], "unknown preset"),
    (["train", "tictactoe", "--preset", "c4-seed"], "is for connect4"),
    (["train", "tictactoe", "--threads", "99"], "--threads"),
    (["train", "connect4", "--until-optimal", "--iterations", "1"], "tictactoe only"),
])
def test_bad_train_input(args, needle, tmp_path):
    res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "x")])
    assert needle in _one_line_exit_2(res)


@pytest.mark.parametrize("args,needle", [
    (["train", "tictactoe", "--iterations", "0"], "'--iterations': 0 is not in the range"),
    (["train", "tictactoe", "--set", "lr=1"], "No such option '--set'"),
    (["train"], "Missing argument 'GAME'"),
    (["solve", "--tt-log2", "5", "44"], "'--tt-log2': 5 is not in the range"),
    (["play", "chess"], "'chess' is not one of"),
    (["play", "tictactoe", "--opponent", "ab3"], "'ab3' is not an opponent for tictactoe"),
    (["nosuchcommand"], "No such command 'nosuchcommand'"),
])
def test_usage_errors_are_one_line(args, needle):
    """What click rejects before a command runs (options, arguments, choices) is one line too, naming the
    command's --help, instead of click's usage, hint and error lines."""
    line = _one_line_exit_2(CliRunner().invoke(main, args))
    assert needle in line and line.startswith("numbaplay: error: ") and "--help`)" in line, line


def test_bare_command_shows_the_help_and_version_still_works():
    res = CliRunner().invoke(main, [])
    assert "Usage: " in res.output and "Commands:" in res.output and "error" not in res.output
    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0 and "version" in res.output


def test_bad_config_files(tmp_path):
    bad_key = tmp_path / "k.toml"
    bad_key.write_text("learning_rate = 0.1\n")
    bad_value = tmp_path / "v.json"
    bad_value.write_text('{"clip_eps": -1}')
    bad_type = tmp_path / "t.json"
    bad_type.write_text('{"hidden": "wide"}')
    broken = tmp_path / "b.toml"
    broken.write_text("hidden = = 3")
    no_shards = tmp_path / "s.toml"
    no_shards.write_text("update_shards = 0\n")
    for path, needle in [(bad_key, "unknown config key 'learning_rate'"), (bad_value, "clip_eps"),
                         (bad_type, "hidden"), (broken, "not valid"),
                         (no_shards, "config key 'update_shards' must be in [1, 64], got 0")]:
        res = CliRunner().invoke(main, ["train", "tictactoe", "--config", str(path), "--out",
                                        str(tmp_path / "o")])
        assert needle in _one_line_exit_2(res)
    assert not (tmp_path / "o").exists()


def test_never_overwrites_a_run(trained):
    before = (trained / "metrics.jsonl").read_bytes()
    res = CliRunner().invoke(main, ["train", "tictactoe", "--out", str(trained), *FAST])
    assert "not empty" in _one_line_exit_2(res)
    assert (trained / "metrics.jsonl").read_bytes() == before


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    res = CliRunner().invoke(main, ["train", "tictactoe", "--out", str(blocker / "sub"), *FAST])
    _one_line_exit_2(res)
    assert blocker.read_text() == "keep me"


def test_bad_checkpoints(tmp_path, trained):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes((trained / "checkpoints" / "final.npz").read_bytes()[:-200])
    for path, needle in [(junk, "not an .npz archive"), (foreign, "missing"),
                         (tmp_path / "missing.npz", "does not exist"), (truncated, "not a")]:
        line = _one_line_exit_2(CliRunner().invoke(main, ["eval", str(path)]))
        assert needle in line and "unsafe" not in line, line
    from numbaplay.agent import load_agent
    from numbaplay.errors import CheckpointError

    with pytest.raises(CheckpointError, match="not connect4"):
        load_agent(trained / "checkpoints" / "final.npz", game="connect4")


def test_malformed_position_through_api(trained):
    from numbaplay.agent import load_agent
    from numbaplay.errors import PositionError

    agent = load_agent(trained / "checkpoints" / "final.npz")
    for bad in ("1a", "11", "1234567"):
        with pytest.raises(PositionError):
            agent.probs(bad)


def test_real_subprocess(tmp_path):
    exe = Path(sys.executable).parent / "numbaplay"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "numbaplay"]
    ok = subprocess.run([*cmd, "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "train" in ok.stdout
    bad = subprocess.run([*cmd, "train", "tictactoe", "--preset", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown preset" in bad.stderr and "Traceback" not in bad.stderr
