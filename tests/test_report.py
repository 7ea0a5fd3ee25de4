"""Reports: PDFs from fake run folders, sentences pinned to the data, across-seed statistics.

The run folders are synthetic: metrics drawn here from explicit numpy Generators, shaped like what
`numbaplay.runs.run_training` writes (config.json, metrics.jsonl, summary.json, checkpoints/).
"""
from __future__ import annotations

import inspect
import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from numbaplay.errors import NumbaplayError
from numbaplay.presets import PRESETS
from numbaplay.report import stats
from numbaplay.report.study import (
    default_target,
    load_study,
    mean_sentence,
    seed_result,
    study_sentences,
    study_stats,
    success_sentence,
    time_to_target_sentence,
    write_study_report,
)
from numbaplay.report.training import (
    SAMPLED_THRESHOLD,
    RunDataError,
    entropy_sentence,
    eval_panels,
    first_reached_sentence,
    kl_sentence,
    load_run,
    preset_name,
    progress_sentence,
    time_sentence,
    training_sentences,
    trend_sentence,
    wdl_sentence,
    write_training_report,
)

DPI = 50  # low-resolution figures keep the tests fast; the layout code is the same


# -- fake run folders ------------------------------------------------------------------------------------

def make_run(root: Path, seed: int = 0, iterations: int = 70, eval_every: int = 5, reach_at: int | None = 45,
             finished: bool = True, configured: int | None = None, stopped: str = "iterations",
             name: str | None = None) -> Path:
    """A Tic-Tac-Toe run folder; greedy exploitability is 0 at every evaluation from `reach_at` on.

    Evaluations happen at multiples of `eval_every` and at the last iteration.
    """
    rng = np.random.default_rng(1000 + seed)
    run = root / (name or f"seed{seed}")
    (run / "checkpoints").mkdir(parents=True)
    cfg = dict(PRESETS["tictactoe"], seed=seed, iterations=configured or iterations, eval_every=eval_every,
               preset="tictactoe")
    (run / "config.json").write_text(json.dumps(cfg, indent=2))
    elapsed = 0.0
    last_eval = None
    with open(run / "metrics.jsonl", "w") as f:
        for i in range(iterations):
            rollout, gae, update = rng.uniform(0.05, 0.1), rng.uniform(1e-3, 2e-3), rng.uniform(0.05, 0.1)
            win, loss = rng.uniform(0.3, 0.6), rng.uniform(0.1, 0.3)
            rec = {
                "iteration": i, "loss/policy": float(rng.normal(0, 0.01)), "loss/value": 0.5 * 0.97 ** i,
                "loss/entropy": 2.0 * 0.98 ** i, "loss/approx_kl": float(rng.uniform(0, 0.02)),
                "loss/clip_frac": float(rng.uniform(0, 0.1)), "loss/total": 0.3 * 0.97 ** i,
                "loss/grad_norm": float(rng.uniform(0.2, 1.0)),
                "loss/explained_variance": None if i == 0 else float(rng.uniform(0, 1)),
                "charts/lr": 3e-3, "charts/ent_coef": 0.01, "charts/transitions": 1100, "charts/games": 256,
                "charts/pool_size": min(1 + (i + 1) // 5, 10), "charts/learner_win": win,
                "charts/learner_draw": 1 - win - loss, "charts/learner_loss": loss,
                "charts/adam_t": 20 * (i + 1),
                "time/rollout_s": rollout, "time/gae_s": gae, "time/update_s": update,
                "time/iteration_s": rollout + gae + update + 1e-4,
            }
            elapsed += rec["time/iteration_s"]
            if i % eval_every == 0 or i == iterations - 1:
                greedy = 0.0 if reach_at is not None and i >= reach_at else float(0.4 * 0.95 ** i + 0.01)
                last_eval = {
                    "exploitability_greedy": greedy, "exploitability_sampled": float(0.5 * 0.9 ** i),
                    "optimal_move_rate": float(min(1.0, 0.5 + i / 100)), "optimal_move_rate_all": 0.8,
                    "vs_random_win": 0.9, "vs_random_draw": 0.1, "vs_random_loss": 0.0,
                    "vs_perfect_win": 0.0, "vs_perfect_draw": 1.0 - greedy, "vs_perfect_loss": greedy,
                    "optimal": greedy == 0.0,
                }
                rec["time/eval_s"] = 0.02
                elapsed += 0.02
                rec.update({f"eval/{k}": v for k, v in last_eval.items()})
            rec["time/elapsed_s"] = elapsed
            f.write(json.dumps(rec) + "\n")
    if finished:
        summary = {"iterations_run": iterations, "wall_time_s": elapsed + 0.5, "stopped_reason": stopped,
                   "final_eval": last_eval, "machine": {"python": "3.11", "cpus": 2}}
        (run / "summary.json").write_text(json.dumps(summary))
    return run


def make_c4_run(root: Path, seed: int, iterations: int = 20) -> Path:
    """A Connect Four run folder: Elo and mistake-rate evaluations every 5 iterations."""
    rng = np.random.default_rng(2000 + seed)
    run = root / f"c4-seed{seed}"
    run.mkdir()
    cfg = dict(PRESETS["connect4"], seed=seed, iterations=iterations, eval_every=5, preset="connect4")
    (run / "config.json").write_text(json.dumps(cfg))
    with open(run / "metrics.jsonl", "w") as f:
        for i in range(iterations):
            rec = {"iteration": i, "loss/entropy": 1.9 - 0.05 * i, "loss/approx_kl": 0.01,
                   "loss/clip_frac": 0.05, "charts/learner_win": 0.5, "charts/learner_draw": 0.1,
                   "charts/learner_loss": 0.4, "time/iteration_s": 0.5, "time/elapsed_s": 0.5 * (i + 1)}
            if (i + 1) % 5 == 0:
                elo = float(100 * i + rng.normal(0, 20))
                rec.update({"eval/elo": elo, "eval/elo_lo": elo - 80, "eval/elo_hi": elo + 80,
                            "eval/mistakes/easy/rate": 0.5 - i / 50, "eval/mistakes/easy/positions": 90})
            f.write(json.dumps(rec) + "\n")
    final = {"elo": "> 1450", "mistakes": {"easy": {"rate": 0.12, "positions": 90}}}
    (run / "summary.json").write_text(json.dumps({"iterations_run": iterations, "wall_time_s": 11.0,
                                                  "stopped_reason": "iterations", "final_eval": final}))
    return run


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


def pdf_text(data: bytes) -> str:
    """The strings the PDF draws, in order, joined by spaces (content streams are zlib-compressed)."""
    chunks = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, flags=re.S):
        try:
            chunks.append(zlib.decompress(stream))
        except zlib.error:
            chunks.append(stream)
    shown = re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", b"\n".join(chunks))
    text = " ".join(re.sub(rb"\\(.)", rb"\1", s).decode("latin-1") for s in shown)
    return re.sub(r"\s+", " ", text)


def check_pdf(path: Path, min_pages: int = 1) -> str:
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert pdf_pages(data) >= min_pages
    return pdf_text(data)


# -- statistics ------------------------------------------------------------------------------------------

def test_t_interval_known_values():
    iv = stats.t_interval([1, 2, 3, 4, 5])
    assert iv.mean == 3.0 and iv.n == 5
    assert iv.half_width == pytest.approx(1.9632, abs=1e-4)  # t_{0.975,4} = 2.7764, s/sqrt(5) = 0.7071
    assert (iv.lo, iv.hi) == pytest.approx((3 - 1.9632, 3 + 1.9632), abs=1e-4)
    same = stats.t_interval([0.25, 0.25, 0.25])
    assert same.half_width == 0.0 and same.mean == 0.25
    one = stats.t_interval([7.0])
    assert one.mean == 7.0 and np.isnan(one.half_width)
    assert stats.t_interval([]).n == 0
    with pytest.raises(ValueError):
        stats.t_interval([1.0, float("nan")])


def test_clopper_pearson_known_values():
    p = stats.clopper_pearson(5, 5)
    assert p.lo == pytest.approx(0.025 ** (1 / 5), abs=1e-12)  # 0.478: the closed form for k = n
    assert round(p.lo, 3) == 0.478 and p.hi == 1.0
    zero = stats.clopper_pearson(0, 5)
    assert zero.lo == 0.0 and zero.hi == pytest.approx(1 - 0.025 ** (1 / 5), abs=1e-12)
    mid = stats.clopper_pearson(3, 5)
    assert (mid.lo, mid.hi) == pytest.approx((0.1466, 0.9473), abs=1e-4)
    with pytest.raises(ValueError):
        stats.clopper_pearson(6, 5)


def test_median_with_count():
    mc = stats.median_with_count([30, None, 10, 20, float("nan")])
    assert (mc.median, mc.count, mc.total) == (20.0, 3, 5)
    none = stats.median_with_count([None, None])
    assert none.median is None and none.count == 0 and none.total == 2


# -- sentences -------------------------------------------------------------------------------------------

def test_first_reached_sentence_names_the_iteration_and_the_last_five_mean():
    its = np.arange(0, 70, 5)  # 45, 50, 55, 60, 65: five evaluations at 0
    vals = np.where(its >= 45, 0.0, 0.3)
    s = first_reached_sentence("Greedy exploitability", its, vals)
    assert s == ("Greedy exploitability first reached 0 at iteration 45 and stayed at 0 for the last 5 "
                 "evaluations (mean 0.000).")


def test_first_reached_sentence_relapse_and_never():
    its = np.arange(0, 60, 5)
    vals = np.where(its >= 20, 0.0, 0.3)
    vals[-2] = 0.05  # one relapse among the last five
    s = first_reached_sentence("Greedy exploitability", its, vals)
    assert "first reached 0 at iteration 20" in s
    assert "only 7 of the 8 evaluations from then on were at 0" in s
    assert f"the mean of the last 5 evaluations is {np.mean(vals[-5:]):.3f}" in s
    never = first_reached_sentence("Greedy exploitability", its, np.linspace(0.5, 0.1, its.size))
    assert "never got to 0 in 12 evaluations" in never and "lowest value was 0.100 at iteration 55" in never
    sampled = first_reached_sentence("Sampled exploitability", [0, 5, 10], [0.5, 0.005, 0.001],
                                     target=SAMPLED_THRESHOLD, strict=True)
    assert sampled.startswith("Sampled exploitability first fell below 0.01 at iteration 5 and stayed below")
    assert "all 2 evaluations from then on" in sampled and "(all that were logged)" in sampled
    assert "never evaluated" in first_reached_sentence("X", [], [])


def test_other_sentences_follow_the_numbers():
    assert trend_sentence("Elo", [0, 10, 20], [100.0, 300.0, 250.0]) == (
        "Elo went from 100.000 at iteration 0 to 250.000 at iteration 20 (lowest 100.000 at iteration 0, "
        "highest 300.000 at iteration 10); the mean of the last 3 evaluations (all that were logged) is "
        "216.667.")
    assert entropy_sentence([0, 1, 2], [2.0, 1.0, 1.5]).startswith("Policy entropy fell from 2.000 to 1.500")
    kl = kl_sentence([0, 1], [0.01, 0.03], [0.1, 0.0])
    assert "averaged 0.020" in kl and "largest 0.030 at iteration 1" in kl
    assert "largest 0.100 at iteration 0" in kl
    wdl = wdl_sentence([0, 1, 2], [0.0, 0.5, 0.7], [0.5, 0.5, 0.1], [0.5, 0.0, 0.2], recent=2)
    assert "the last 2 iterations (1 to 2)" in wdl and "won 60.0%, drew 30.0% and lost 10.0%" in wdl
    t = time_sentence([3.0], [1.0], [4.0], [10.0], [10.0], 25.0)
    assert "3.00 s (15%) in rollout" in t and "2.00 s (10%) elsewhere" in t
    assert "10.0 s (50%) in 1 evaluation" in t
    assert "wall time was 25.0 s" in t
    cfg = {"iterations": 200}
    assert progress_sentence(cfg, [], None) == "No iteration has been logged yet (200 configured)."
    summary = {"iterations_run": 46, "stopped_reason": "until-optimal"}
    done = progress_sentence(cfg, [{"iteration": 0}], summary)
    assert done == "The run finished after 46 of 200 configured iterations (stopped_reason: until-optimal)."


def test_training_sentences_from_a_run(tmp_path):
    run = load_run(make_run(tmp_path, reach_at=45))
    sentences = training_sentences(run)
    assert run.notes == []
    greedy = next(s for s in sentences if s.startswith("Greedy exploitability"))
    assert greedy == ("Greedy exploitability first reached 0 at iteration 45 and stayed at 0 for the last 5 "
                      "evaluations (mean 0.000).")
    assert "The run finished after 70 of 70 configured iterations (stopped_reason: iterations)." in sentences
    its, vals = run.series("eval/exploitability_sampled")
    first = int(its[np.flatnonzero(vals < SAMPLED_THRESHOLD)[0]])
    assert any(s.startswith(f"Sampled exploitability first fell below 0.01 at iteration {first}")
               for s in sentences)
    assert preset_name(run.config) == "tictactoe"
    unnamed = {k: v for k, v in run.config.items() if k != "preset"}
    assert preset_name(unnamed) == "custom"  # iterations and eval_every differ from the preset
    assert preset_name(dict(PRESETS["ttt-seed"], seed=3)) == "ttt-seed"
    # A config written before a key existed (no update_shards) still names its preset; another value not.
    older = {k: v for k, v in PRESETS["c4-seed"].items() if k != "update_shards"}
    assert preset_name(older) == "c4-seed"
    assert preset_name(dict(PRESETS["c4-seed"], update_shards=8)) == "custom"


def test_sampled_threshold_matches_the_evaluator_default():
    from numbaplay.eval.tictactoe_exact import evaluate_tictactoe

    default = inspect.signature(evaluate_tictactoe).parameters["sampled_threshold"].default
    assert default == SAMPLED_THRESHOLD


def test_eval_panels_group_generic_keys():
    keys = ["eval/exploitability_greedy", "eval/exploitability_sampled", "eval/vs_random_win",
            "eval/vs_random_first_win", "eval/elo", "eval/elo_lo", "eval/mistakes/easy/rate",
            "eval/mistakes/hard/rate", "eval/something_new"]
    panels, left_out = eval_panels(keys)
    titles = [p[0] for p in panels]
    assert titles == ["exploitability (symlog)", "vs random: win / draw / loss", "Elo (with 95% bounds)",
                      "mistake rate", "something_new"]
    assert panels[0][2] is True and left_out == []
    _, left = eval_panels([f"eval/k{i}" for i in range(12)], max_panels=9)
    assert left == ["eval/k9", "eval/k10", "eval/k11"]


# -- PDFs ------------------------------------------------------------------------------------------------

def test_training_report_pdf(tmp_path):
    run = make_run(tmp_path, reach_at=45)
    out = write_training_report(run, tmp_path / "report.pdf", dpi=DPI)
    text = check_pdf(out, min_pages=2)
    assert "Training report: tictactoe, preset tictactoe, seed 0" in text
    assert "first reached 0 at iteration 45" in text
    assert "Nothing is missing" in text
    assert "snapshot_interval" in text and "gae_lambda" in text  # config table holds every key


def test_partial_runs_still_give_a_pdf_that_says_what_is_missing(tmp_path):
    # Stopped early, no summary, no evaluation yet, half-written last line.
    run = make_run(tmp_path, iterations=4, eval_every=50, configured=200, finished=False, name="young")
    lines = (run / "metrics.jsonl").read_text().splitlines()
    lines = [json.dumps({k: v for k, v in json.loads(line).items() if not k.startswith("eval/")})
             for line in lines]
    (run / "metrics.jsonl").write_text("\n".join(lines) + '\n{"iteration": 4, "loss/pol')
    loaded = load_run(run)
    assert len(loaded.metrics) == 4
    notes = " ".join(loaded.notes)
    assert "summary.json is missing" in notes and "cut off" in notes
    assert "No evaluation has been logged" in notes
    assert progress_sentence(loaded.config, loaded.metrics, None) == (
        "The run has not finished (no summary.json): metrics.jsonl logs 4 iterations, the last being "
        "iteration 3 of 200 configured.")
    text = check_pdf(write_training_report(run, tmp_path / "young.pdf", dpi=DPI))
    assert "summary.json is missing" in text and "No evaluation curves" in text

    # Only a config: nothing logged at all.
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text(json.dumps({"game": "tictactoe", "seed": 1}))
    text = check_pdf(write_training_report(bare, tmp_path / "bare.pdf", dpi=DPI))
    assert "metrics.jsonl is missing" in text and "No curves" in text and "lacks 23 expected key(s)" in text


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "has no config.json"),
    (lambda d: (d / "config.json").write_text("[1, 2]"), "must hold a JSON object"),
    (lambda d: (d / "config.json").write_text("{oops"), "config.json is not valid JSON"),
    (lambda d: ((d / "config.json").write_text("{}"),
                (d / "metrics.jsonl").write_text('{"iteration": 0}\nnot json\n{"iteration": 2}\n')),
     "metrics.jsonl:2: not valid JSON"),
    (lambda d: ((d / "config.json").write_text("{}"), (d / "metrics.jsonl").write_text('{"loss": 1}\n')),
     "metrics.jsonl:1: record has no integer 'iteration' in [0, 10000000)"),
    (lambda d: ((d / "config.json").write_text("{}"),
                (d / "metrics.jsonl").write_text('{"iteration": 1000000000000}\n')),
     "metrics.jsonl:1: record has no integer 'iteration' in [0, 10000000)"),  # not a list of 10^12 gaps
    (lambda d: ((d / "config.json").write_text("{}"),
                (d / "summary.json").write_text('{"final_eval": 3}')), "'final_eval' must be a JSON object"),
])
def test_malformed_run_folder_raises_one_line(tmp_path, setup, message):
    run = tmp_path / "bad"
    run.mkdir()
    setup(run)
    with pytest.raises(RunDataError, match=re.escape(message)) as info:
        write_training_report(run, tmp_path / "bad.pdf")
    assert isinstance(info.value, NumbaplayError) and "\n" not in str(info.value)
    assert not (tmp_path / "bad.pdf").exists()
    with pytest.raises(RunDataError, match="does not exist"):
        load_run(tmp_path / "nowhere")


def test_study_statistics_and_sentences(tmp_path):
    dirs = [make_run(tmp_path, seed=0, reach_at=45), make_run(tmp_path, seed=1, reach_at=20),
            make_run(tmp_path, seed=2, reach_at=None),
            make_run(tmp_path, seed=3, reach_at=30, finished=False)]
    runs = load_study(dirs)
    target = default_target("tictactoe")
    results = [seed_result(r, target) for r in runs]
    assert [r.reached for r in results] == [True, True, False, True]
    assert [r.first_iteration for r in results] == [45, 20, None, 30]
    assert results[3].final_source == "last evaluation" and not results[3].finished
    rec = next(m for m in runs[0].metrics if m["iteration"] == 45)
    assert results[0].first_time_s == rec["time/elapsed_s"]
    st = study_stats(results, target)
    assert (st.success.successes, st.success.n) == (3, 4)
    assert st.first_iteration.median == 30.0 and st.first_iteration.count == 3
    finals = [r.final_value for r in results]
    assert st.final.mean == pytest.approx(np.mean(finals))
    assert st.final.half_width == pytest.approx(stats.t_interval(finals).half_width)
    sentences = study_sentences(results, target, st)
    cp = stats.clopper_pearson(3, 4)
    words = "greedy exploitability 0 (no opponent beats the greedy policy from either seat)"
    assert success_sentence(words, st.success) in sentences
    assert (f"3/4 runs reached {words} (75.0%; Clopper-Pearson 95% interval "
            f"{100 * cp.lo:.1f}% to {100 * cp.hi:.1f}%).") in sentences
    # exploitability cannot be negative: the final values' t interval reaches below 0, and the sentence says so
    assert any(s.startswith("Final exploitability_greedy: mean") and "reaches past the metric's possible values"
               in s for s in sentences)
    assert "all 3 seeds gave 0.25" in mean_sentence("x", stats.t_interval([0.25, 0.25, 0.25]))
    assert time_to_target_sentence("x", st.first_iteration, st.first_time).startswith(
        "Over the 3 of 4 runs whose evaluations during training showed x, the median first iteration at which "
        "one did was 30")
    assert any(s.startswith("1 of 4 runs have not finished") for s in sentences)
    assert sentences[0] == ("This study has 4 seeds; SPEC section 7 reports strength over 5 unless an issue "
                            "says otherwise.")


def test_study_report_pdf_and_refusals(tmp_path):
    dirs = [make_run(tmp_path, seed=s, reach_at=r, iterations=30) for s, r in ((0, 10), (1, 25), (2, None))]
    text = check_pdf(write_study_report(dirs, tmp_path / "study.pdf", dpi=DPI), min_pages=2)
    assert "Study report: tictactoe, preset tictactoe, 3 seeds" in text
    assert "2/3 runs reached" in text
    with pytest.raises(RunDataError, match="both have seed 0"):
        load_study([dirs[0], make_run(tmp_path, seed=0, iterations=30, name="again")])
    other = make_run(tmp_path, seed=9, iterations=30, name="other")
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(dict(cfg, lr=1e-4)))
    with pytest.raises(RunDataError, match=r"differ in lr"):
        load_study([dirs[0], other])
    with pytest.raises(RunDataError, match="given twice"):
        load_study([dirs[0], dirs[0]])


def test_connect4_runs_treat_eval_keys_generically(tmp_path):
    dirs = [make_c4_run(tmp_path, seed) for seed in (0, 1)]
    run = load_run(dirs[0])
    sentences = training_sentences(run)
    its, elo = run.series("eval/elo")
    assert list(its) == [4, 9, 14, 19]
    expected = f"Elo went from {elo[0]:.3f} at iteration 4 to {elo[-1]:.3f} at iteration 19"
    assert expected in " ".join(sentences)
    assert any(s.startswith("The mistake rate on set easy went from 0.420") for s in sentences)
    assert any("Elo > 1450" in s for s in sentences)
    # Half the per-iteration keys were never logged: the report says so instead of failing.
    assert any("'loss/policy'" in note for note in run.notes)
    text = check_pdf(write_training_report(dirs[0], tmp_path / "c4.pdf", dpi=DPI))
    assert "mistakes/easy/rate" in text  # the nested final evaluation is flattened into the table
    target = default_target("connect4")
    assert target.metric == "elo" and target.target is None
    results = [seed_result(r, target) for r in load_study(dirs)]
    st = study_stats(results, target)
    assert st.success is None and st.stable.n == 2 and st.final.n == 0
    assert results[0].final_text == "> 1450"
    sentences = study_sentences(results, target, st)
    assert not any("runs reached" in s for s in sentences)
    assert "2 run(s) report a final elo that is not a number (seed 0: > 1450, seed 1: > 1450)" in " ".join(
        sentences)
    assert any(s.startswith("Stable elo (mean of each run's last 5 evaluations): mean") for s in sentences)


def test_connect4_bounds_and_mixed_evaluations_are_said(tmp_path):
    """The evaluator's current format: a one-sided Elo is `elo: None` with `elo_bound`; evaluations during
    training score fewer Pons positions than the final one. Neither may vanish from the sentences, and a
    study's final Elo is the summary's bound, never an older evaluation's number."""
    run_dir = make_c4_run(tmp_path, 0)
    recs = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    recs[14].update({"eval/elo": None, "eval/elo_lo": None, "eval/elo_hi": None, "eval/elo_bound": "> 1450"})
    recs[19].update({"eval/mistakes/easy/positions": 1000})  # the last (final) evaluation: the full set
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    final = {"elo": None, "elo_lo": None, "elo_hi": None, "elo_bound": "> 1450", "elo_score": 1.0,
             "mistakes/easy/rate": 0.12, "mistakes/easy/positions": 1000}
    (run_dir / "summary.json").write_text(json.dumps({"iterations_run": 20, "wall_time_s": 11.0,
                                                      "stopped_reason": "iterations", "final_eval": final}))
    run = load_run(run_dir)
    text = " ".join(training_sentences(run))
    assert "Elo > 1450, a bound only: it won every ladder game" in text
    assert "1 Elo evaluation(s) gave only a bound" in text and "> 1450 at iteration 14" in text
    assert "On set easy the evaluations scored different numbers of positions (90, 1000" in text
    target = default_target("connect4")
    result = seed_result(run, target)
    assert result.final_value is None and result.final_text == "> 1450"


def test_entropy_time_and_waterfall_colours_follow_the_numbers():
    from numbaplay.cli.profile import change_colour
    from numbaplay.report.training import entropy_sentence, final_eval_sentence, time_sentence

    assert entropy_sentence([0, 9], [1.0, 0.9999]).startswith("Policy entropy stayed at 1.000")
    assert entropy_sentence([0, 9], [1.0, 0.8]).startswith("Policy entropy fell from 1.000 to 0.800")
    cold = time_sentence([18.4, 0.007, 0.008], [0.001] * 3, [0.5, 0.02, 0.02], [19.0, 0.03, 0.03], [1.0], 21.0)
    assert "The first iteration alone took 19.0 s, against a median of 0.03 s for the others, most of the " \
           "difference in rollout" in cold
    assert "first iteration alone" not in time_sentence([0.01] * 3, [0.0] * 3, [0.02] * 3, [0.03] * 3, [], None)
    assert "95% interval from 1100 up, with no finite upper end" in final_eval_sentence(
        {"elo": 1200.0, "elo_lo": 1100.0, "elo_hi": None})
    before = {"iteration_min_s": 1.0, "iteration_max_s": 1.2}
    assert change_colour(before, {"iteration_min_s": 0.7, "iteration_max_s": 0.9}) == "#55a868"  # faster
    assert change_colour(before, {"iteration_min_s": 1.3, "iteration_max_s": 1.4}) == "#c44e52"  # slower
    assert change_colour(before, {"iteration_min_s": 1.1, "iteration_max_s": 1.3}) == "#999999"  # overlap
    assert change_colour(before, {}) == "#999999"


# -- the CLI ---------------------------------------------------------------------------------------------

def test_cli_report(tmp_path, monkeypatch):
    from numbaplay.cli.report import report
    from numbaplay.report import training

    run = make_run(tmp_path, seed=0, iterations=12)
    runner = CliRunner()
    res = runner.invoke(report, [str(run), "--dpi", str(DPI)])
    assert res.exit_code == 0, res.output
    assert (run / "report.pdf").read_bytes().startswith(b"%PDF")
    res = runner.invoke(report, [str(run)])
    assert res.exit_code == 2 and "exists" in res.output and "--force" in res.output
    assert res.output.count("\n") == 1
    # --force overwrites; a stand-in writer keeps this fast (the real one ran above).
    monkeypatch.setattr(training, "write_training_report",
                        lambda run_dir, out, dpi: Path(out).write_bytes(b"%PDF-stand-in") and Path(out))
    res = runner.invoke(report, [str(run), "--force"])
    assert res.exit_code == 0, res.output
    assert (run / "report.pdf").read_bytes() == b"%PDF-stand-in"
    monkeypatch.undo()

    second = make_run(tmp_path, seed=1, iterations=12)
    out = tmp_path / "study.pdf"
    res = runner.invoke(report, [str(run), str(second), "--out", str(out), "--dpi", str(DPI)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(b"%PDF")

    res = runner.invoke(report, [str(tmp_path / "missing")])
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "does not exist" in res.output
