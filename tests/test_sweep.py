"""`numbaplay sweep`: search-space parsing, a small real sweep, continuing it, and bad input."""
import json
import math

import pytest
from click.testing import CliRunner

from numbaplay.cli import main
from numbaplay.errors import ConfigError
from numbaplay.sweep import Param, mean_ci95, parse_param

pytest.importorskip("optuna")

# Two iterations of the small Tic-Tac-Toe preset per run: a second or so per trial and seed.
SMALL = ["--iterations", "2", "--param", "lr=1e-4:1e-2:log", "--param", "epochs=1:3",
         "--param", "lr_schedule=constant,cosine"]


def run(args):
    return CliRunner().invoke(main, args)


def test_parse_param_forms():
    assert parse_param("lr=1e-4:1e-2:log") == Param("lr", 1e-4, 1e-2, True)
    assert parse_param("epochs=1:8") == Param("epochs", 1, 8, False)
    assert parse_param("hidden=64,128") == Param("hidden", choices=(64, 128))
    assert parse_param("lr_schedule=constant,cosine") == Param("lr_schedule", choices=("constant", "cosine"))
    for bad, words in (("lr", "expected NAME="), ("lr=", "expected NAME="), ("speed=1:2", "not a config key"),
                       ("seed=1:5", "set by the sweep"), ("lr=1e-2:1e-4", "LOW must be below HIGH"),
                       ("lr=0:1:log", "LOW > 0"), ("epochs=1:x", "not an integer"), ("lr=1:2:sqrt", "a range is"),
                       ("arch=mlp:resmlp", "a range is")):
        with pytest.raises(ConfigError, match=words):
            parse_param(bad)


def test_mean_ci95_matches_t_interval():
    m, lo, hi = mean_ci95([1.0, 2.0, 3.0])
    assert m == 2.0
    assert math.isclose(hi - m, 4.302652729911275 * 1.0 / math.sqrt(3))  # t(0.975, 2) * sd / sqrt(n)
    assert mean_ci95([5.0]) == (5.0, 5.0, 5.0)


def test_sweep_runs_continues_and_reproduces(tmp_path):
    out = tmp_path / "sweep"
    res = run(["sweep", "tictactoe", "--trials", "2", "--seeds", "0,1", "--out", str(out), *SMALL])
    assert res.exit_code == 0, res.output
    settings = json.loads((out / "sweep.json").read_text())
    assert settings["metric"] == "exploitability_sampled" and settings["direction"] == "minimize"
    rows = [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()]
    assert [r["trial"] for r in rows] == [0, 1]
    for r in rows:
        assert set(r["values"]) == {"0", "1"}
        assert 1e-4 <= r["params"]["lr"] <= 1e-2 and r["params"]["epochs"] in (1, 2, 3)
        assert r["ci95"][0] <= r["mean"] <= r["ci95"][1]
        for seed, value in r["values"].items():  # each value is that run's own final evaluation
            summary = json.loads((out / f"trial-{r['trial']:04d}" / f"seed-{seed}" / "summary.json").read_text())
            assert summary["final_eval"]["exploitability_sampled"] == value
            cfg = json.loads((out / f"trial-{r['trial']:04d}" / f"seed-{seed}" / "config.json").read_text())
            assert cfg["lr"] == r["params"]["lr"] and cfg["iterations"] == 2 and cfg["seed"] == int(seed)
    assert (out / "report.pdf").read_bytes()[:5] == b"%PDF-"
    best = json.loads((out / "best.json").read_text())
    assert best["mean"] == min(r["mean"] for r in rows)
    assert best["config"]["lr"] == best["params"]["lr"] and best["trials"] == 2
    # Continuing the same sweep adds a third trial and keeps the first two.
    res = run(["sweep", "tictactoe", "--trials", "3", "--seeds", "0,1", "--out", str(out), *SMALL])
    assert res.exit_code == 0, res.output
    again = [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()]
    assert again[:2] == rows and again[2]["trial"] == 2
    # The same sweep in a new folder proposes the same trials and scores them the same.
    other = tmp_path / "other"
    res = run(["sweep", "tictactoe", "--trials", "2", "--seeds", "0,1", "--out", str(other), *SMALL])
    assert res.exit_code == 0, res.output
    fresh = [json.loads(x) for x in (other / "trials.jsonl").read_text().splitlines()]
    assert [(r["params"], r["values"]) for r in fresh] == [(r["params"], r["values"]) for r in rows]


@pytest.mark.parametrize("args, words", [
    (["--param", "speed=1:2"], "is not a config key"),
    ([], "needs at least one --param"),
    (["--param", "lr=1e-4:1e-2", "--metric", "elo"], "unknown metric 'elo' for tictactoe"),
    (["--param", "lr=1e-4:1e-2", "--seeds", "0,0"], "distinct seeds"),
    (["--param", "lr=1e-4:1e-2", "--seeds", "a"], "comma-separated integers"),
    (["--param", "games_per_iter=3,4"], "games_per_iter"),
    (["--param", "games_per_iter=2:6"], "must list even values"),  # a range could draw an odd count
])
def test_bad_sweep_is_one_line_exit_2(tmp_path, args, words):
    out = tmp_path / "s"
    res = run(["sweep", "tictactoe", "--trials", "1", "--out", str(out), *args])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], res.output
    assert not out.exists()


def test_a_different_sweep_never_reuses_a_folder(tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    res = run(["sweep", "tictactoe", "--out", str(out), "--param", "lr=1e-4:1e-2"])
    assert res.exit_code == 2 and "not empty" in res.output
    assert (out / "notes.txt").read_text() == "mine" and len(list(out.iterdir())) == 1
    out2 = tmp_path / "s2"
    assert run(["sweep", "tictactoe", "--trials", "1", "--seeds", "0", "--out", str(out2), *SMALL]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out2.iterdir() if p.is_file()}
    res = run(["sweep", "tictactoe", "--trials", "2", "--seeds", "0,1", "--out", str(out2), *SMALL])
    assert res.exit_code == 2 and "holds a different sweep" in res.output
    assert {p.name: p.read_bytes() for p in out2.iterdir() if p.is_file()} == before


def test_sweep_sentences_are_computed_from_the_trials():
    from numbaplay.report.sweep import sweep_sentences

    settings = {"metric": "exploitability_sampled", "direction": "minimize", "seeds": [0, 1], "iterations": 30}
    trials = [{"trial": 0, "params": {"lr": 0.0016}, "mean": 0.5, "ci95": [0.45, 0.55],
               "values": {"0": 0.45, "1": 0.55}},
              {"trial": 1, "params": {"lr": 0.003}, "mean": 0.52, "ci95": [0.5, 0.54],
               "values": {"0": 0.54, "1": 0.50}},
              {"trial": 2, "params": {"lr": 0.01}, "mean": 0.9, "ci95": [0.8, 1.0],
               "values": {"0": 0.80, "1": 1.00}}]
    text = sweep_sentences(settings, trials)
    assert text[1] == ("Best: trial 0, exploitability_sampled 0.500 (95% interval 0.450 to 0.550), "
                       "with lr = 0.0016.")
    # Trial 1's paired differences (+0.09, -0.05) straddle 0; trial 2's (+0.35, +0.45) are both positive, but
    # two seeds give a t interval of mean 0.40 +/- 12.7 * 0.05: not resolved either.
    assert text[2].startswith("2 other trial(s) are not resolved from the best one by these seeds")
    shifted = [trials[0], {**trials[1], "values": {"0": 0.75, "1": 0.85}, "mean": 0.8},
               {**trials[2], "values": {"0": 0.76, "1": 0.86}, "mean": 0.81}]
    assert sweep_sentences(settings, shifted)[2].startswith("Every other trial differs from the best one")
    assert text[3] == "Trial means ranged from 0.500 to 0.900."
    settings["direction"] = "maximize"
    assert sweep_sentences(settings, trials)[1].startswith("Best: trial 2")
    assert sweep_sentences(settings, [])[0] == "No trial has finished yet."
    settings["seeds"] = [0]
    one = sweep_sentences(settings, trials)
    assert one[1] == "Best: trial 2, exploitability_sampled 0.900, with lr = 0.01."
    assert one[2] == "With one seed per trial there are no intervals: the ranking rests on single runs."


def test_one_process_at_a_time_per_sweep_folder(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    from numbaplay.sweep import LOCK_FILE

    out = tmp_path / "s"
    args = ["sweep", "tictactoe", "--trials", "1", "--seeds", "0", "--out", str(out), "--no-report", *SMALL]
    assert run(args).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with open(out / LOCK_FILE, "a") as held:  # as a sweep still running in another process holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        res = run([*args[:3], "2", *args[4:]])
    assert res.exit_code == 2 and "another numbaplay sweep is running" in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert run([*args[:3], "2", *args[4:]]).exit_code == 0  # released: the sweep continues
