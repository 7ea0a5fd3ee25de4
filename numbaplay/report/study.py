"""Study report: several seeds of one configuration, summarised the way SPEC section 7 asks.

Per seed: did the headline metric reach its target, the iteration and wall time of the first evaluation
that did, the final value and the stable value (mean of the last five evaluations). Across seeds: the
mean of each number with a Student-t 95% interval, the success count with a Clopper-Pearson 95% interval,
and the median time to target with the number of runs that reached it (`numbaplay.report.stats`).

The headline metric and its target default by game: Tic-Tac-Toe uses greedy exploitability, target 0
(no opponent beats the greedy policy; not by itself optimal play, which `tictactoe_exact.provably_optimal`
also asks sampled exploitability and the optimal-move rate for); Connect Four uses Elo, with no target
unless one is given.
"""
from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from numbaplay.report import pdf as layout
from numbaplay.report.stats import (
    MeanInterval,
    MedianCount,
    Proportion,
    clopper_pearson,
    median_with_count,
    t_interval,
)
from numbaplay.report.training import (
    LAST_N,
    RunData,
    RunDataError,
    headline_eval,
    is_number,
    load_run,
    num,
    pct,
    preset_name,
    secs,
)

SPEC_SEEDS = 5
"""Seeds per headline number that SPEC section 7 asks for."""

_DEFAULTS = {
    # game: (metric, target, strict, higher_is_better, words for reaching the target)
    "tictactoe": ("exploitability_greedy", 0.0, False, False,
                  "greedy exploitability 0 (no opponent beats the greedy policy from either seat)"),
    "connect4": ("elo", None, False, True, None),
}


@dataclass(frozen=True)
class Target:
    """The headline metric of a study and what counts as reaching it."""

    metric: str
    """Evaluation key without the `eval/` prefix, e.g. exploitability_greedy."""
    target: float | None
    """Value to reach; None when the study has no target (then no success counts)."""
    strict: bool = False
    """Reaching means strictly beyond the target rather than at or beyond it."""
    higher_is_better: bool = False
    """Direction of the metric."""
    words: str | None = None
    """How a sentence names reaching the target."""

    def reached(self, values: np.ndarray) -> np.ndarray:
        if self.target is None:
            return np.zeros(values.shape, dtype=bool)
        if self.higher_is_better:
            return values > self.target if self.strict else values >= self.target
        return values < self.target if self.strict else values <= self.target

    def describe(self) -> str:
        if self.words:
            return self.words
        if self.target is None:
            return f"{self.metric} (no target)"
        op = (">" if self.strict else ">=") if self.higher_is_better else ("<" if self.strict else "<=")
        return f"{self.metric} {op} {self.target:g}"


def default_target(game: str, metric: str | None = None, target: float | None = None,
                   strict: bool | None = None, higher_is_better: bool | None = None) -> Target:
    """The game's default headline metric and target, with any of them overridden."""
    d_metric, d_target, d_strict, d_higher, words = _DEFAULTS.get(game, ("", None, False, False, None))
    if metric is not None and metric != d_metric:
        d_metric, d_target, d_strict, words = metric, None, False, None
        # Higher is better for ratings, wins and rates of good moves; lower for exploitability, losses and
        # mistake rates.
        d_higher = metric in ("elo", "optimal_move_rate", "optimal_move_rate_all") or metric.endswith("_win")
    if target is not None and target != d_target:
        d_target, words = target, None
    return Target(d_metric, d_target, d_strict if strict is None else strict,
                  d_higher if higher_is_better is None else higher_is_better, words)


@dataclass(frozen=True)
class SeedResult:
    """One run of the study, reduced to the numbers the tables and sentences use."""

    run_dir: Path
    """The run folder."""
    seed: object
    """config.json's seed."""
    reached: bool | None
    """Met the target at some logged evaluation (or the final one); None without a target."""
    first_iteration: int | None
    """`iteration` of the first logged evaluation that met the target."""
    first_time_s: float | None
    """`time/elapsed_s` of that record."""
    final_value: float | None
    """The metric in summary.json's final evaluation, else in the last logged evaluation."""
    final_source: str
    """Where final_value came from: 'summary', 'last evaluation' or 'none'."""
    final_text: str | None
    """summary.json's final value when it is not a number (a one-sided bound such as "> 1450")."""
    stable_mean: float | None
    """Mean of the last LAST_N logged evaluations."""
    stable_count: int
    """How many evaluations that mean covers (LAST_N unless the run has fewer)."""
    n_evals: int
    """Logged evaluations of the metric."""
    iterations_run: int | None
    """summary.json's count, or the logged records of an unfinished run."""
    stopped_reason: str | None
    """summary.json's stopped_reason; None while unfinished."""
    finished: bool
    """summary.json exists."""


def seed_result(run: RunData, target: Target) -> SeedResult:
    """Reduce one run to its SeedResult for `target`."""
    key = f"eval/{target.metric}"
    its, vals = run.series(key)
    hit = target.reached(vals)
    first_it = first_time = None
    reached: bool | None = None
    if target.target is not None:
        idx = np.flatnonzero(hit)
        reached = bool(idx.size)
        if idx.size:
            first_it = int(its[idx[0]])
            rec = next(r for r in run.metrics if r["iteration"] == first_it)
            elapsed = rec.get("time/elapsed_s")
            first_time = float(elapsed) if is_number(elapsed) else None
    final_value, source, final_text = None, "none", None
    ev = run.final_eval
    if ev is not None and is_number(ev.get(target.metric)):
        final_value, source = float(ev[target.metric]), "summary"
    elif ev is not None and target.metric in ev:  # the final evaluation has it, but not as a number: a
        # one-sided bound (Elo when every ladder game went one way) or nothing; never an older evaluation's
        source, final_text = "summary", str(ev.get(f"{target.metric}_bound") or ev[target.metric])
    elif vals.size:
        final_value, source = float(vals[-1]), "last evaluation"
    if reached is False and final_value is not None and source == "summary":
        reached = bool(target.reached(np.asarray([final_value]))[0])
    k = min(LAST_N, vals.size)
    stable = float(vals[-k:].mean()) if k else None
    summary = run.summary or {}
    ran = summary.get("iterations_run")
    if not is_number(ran):
        ran = len(run.metrics) if run.summary is None else None
    reason = summary.get("stopped_reason")
    return SeedResult(run.run_dir, run.seed, reached, first_it, first_time, final_value, source, final_text,
                      stable, int(k), int(vals.size), int(ran) if ran is not None else None,
                      str(reason) if reason is not None else None, run.summary is not None)


# -- across seeds ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StudyStats:
    """The across-seed numbers of a study."""

    final: MeanInterval
    """Final value, mean with Student-t interval over the runs that have a number."""
    stable: MeanInterval
    """Mean of each run's last LAST_N evaluations, then mean with Student-t interval over runs."""
    success: Proportion | None
    """Runs that reached the target, with Clopper-Pearson interval; None without a target."""
    first_iteration: MedianCount | None
    """Median first iteration at the target over the runs that reached it."""
    first_time: MedianCount | None
    """Median wall time (time/elapsed_s) at the target over the runs that reached it."""


def study_stats(results: Sequence[SeedResult], target: Target) -> StudyStats:
    """The across-seed summary of `results` (SPEC section 7)."""
    finals = [r.final_value for r in results if r.final_value is not None and math.isfinite(r.final_value)]
    stables = [r.stable_mean for r in results if r.stable_mean is not None and math.isfinite(r.stable_mean)]
    if target.target is None:
        return StudyStats(t_interval(finals), t_interval(stables), None, None, None)
    success = clopper_pearson(sum(bool(r.reached) for r in results), len(results))
    iters = median_with_count(r.first_iteration for r in results)
    times = median_with_count(r.first_time_s for r in results)
    return StudyStats(t_interval(finals), t_interval(stables), success, iters, times)


def success_sentence(what: str, prop: Proportion) -> str:
    """'k/n runs reached X (p%; Clopper-Pearson 95% interval lo to hi).'"""
    if prop.n == 0:
        return f"There are no runs, so nothing can be said about reaching {what}."
    level = f"{100 * prop.confidence:.0f}%"
    return (f"{prop.successes}/{prop.n} runs reached {what} ({pct(prop.rate)}; Clopper-Pearson {level} "
            f"interval {pct(prop.lo)} to {pct(prop.hi)}).")


def time_to_target_sentence(what: str, iterations: MedianCount, times: MedianCount) -> str:
    """Median first iteration and wall time at the target, with how many runs they cover."""
    if iterations.count == 0:
        return f"No run logged an evaluation during training that showed {what}, so there is no time to target."
    text = (f"Over the {iterations.count} of {iterations.total} runs whose evaluations during training showed "
            f"{what}, the median first iteration at which one did was {iterations.median:g}")
    if times.count == iterations.count:
        text += f", after a median of {secs(times.median)} of wall time"
    elif times.count:
        text += (f"; the median wall time to it is {secs(times.median)}, over the {times.count} of these "
                 "runs that logged time/elapsed_s")
    return text + "."


def metric_range(metric: str) -> tuple[float, float] | None:
    """The values a metric can take where it is a rate or a probability ([0, 1]); None otherwise (Elo)."""
    name = metric.split("/")[-1]
    if name.startswith(("exploitability", "vs_")) or name.endswith("rate") or name in ("win", "draw", "loss"):
        return (0.0, 1.0)
    return None


def mean_sentence(label: str, interval: MeanInterval, bounds: tuple[float, float] | None = None) -> str:
    """'label: mean m over n seeds, Student-t 95% interval lo to hi.', saying so when every seed gave the
    same value (the interval then has no width and says nothing about the next seed) or when the interval
    reaches past the metric's possible values `bounds` (the t interval's normal model does not fit)."""
    if interval.n == 0:
        return f"No run has a value for {label}."
    if interval.n == 1:
        return f"{label} is {num(interval.mean)} in the only run, too few for an interval."
    if interval.half_width == 0:
        return (f"{label}: all {interval.n} seeds gave {num(interval.mean)}; with no spread between them a "
                "t interval has no width and says nothing about how a further seed would vary.")
    level = f"{100 * interval.confidence:.0f}%"
    text = (f"{label}: mean {num(interval.mean)} over {interval.n} seeds, Student-t {level} interval "
            f"{num(interval.lo)} to {num(interval.hi)} (+/- {num(interval.half_width)})")
    if bounds is not None and (interval.lo < bounds[0] or interval.hi > bounds[1]):
        text += (f"; it reaches past the metric's possible values ({num(bounds[0])} to {num(bounds[1])}), so "
                 f"with {interval.n} seeds this skewed the t interval's normal model does not fit")
    return text + "."


def study_sentences(results: Sequence[SeedResult], target: Target, stats: StudyStats) -> list[str]:
    """Every interpretation sentence of the study report, in order."""
    out = []
    if len(results) != SPEC_SEEDS:
        out.append(f"This study has {len(results)} seed{'s' if len(results) != 1 else ''}; SPEC section 7 "
                   f"reports strength over {SPEC_SEEDS} unless an issue says otherwise.")
    unfinished = [r for r in results if not r.finished]
    if unfinished:
        out.append(f"{len(unfinished)} of {len(results)} runs have not finished (no summary.json): seed(s) "
                   f"{', '.join(str(r.seed) for r in unfinished)}.")
    reasons: dict[str, int] = {}
    for r in results:
        if r.stopped_reason is not None:
            reasons[r.stopped_reason] = reasons.get(r.stopped_reason, 0) + 1
    if reasons:
        out.append("Stopped reasons: " + ", ".join(f"{k} ({v} run{'s' if v > 1 else ''})"
                                                   for k, v in sorted(reasons.items())) + ".")
    if stats.success is not None:
        out.append(success_sentence(target.describe(), stats.success))
        out.append(time_to_target_sentence(target.describe(), stats.first_iteration, stats.first_time))
    bounds = metric_range(target.metric)
    out.append(mean_sentence(f"Final {target.metric}", stats.final, bounds))
    texts = [r for r in results if r.final_text is not None]
    if texts:
        out.append(f"{len(texts)} run(s) report a final {target.metric} that is not a number ("
                   + ", ".join(f"seed {r.seed}: {r.final_text}" for r in texts)
                   + "), so the mean of final values leaves them out.")
    out.append(mean_sentence(f"Stable {target.metric} (mean of each run's last {LAST_N} evaluations)",
                             stats.stable, bounds))
    short = [r for r in results if 0 < r.stable_count < LAST_N]
    if short:
        out.append(f"{len(short)} run(s) logged fewer than {LAST_N} evaluations, so their stable value "
                   f"averages fewer: seed(s) {', '.join(str(r.seed) for r in short)}.")
    none = [r for r in results if r.n_evals == 0]
    if none:
        out.append(f"{len(none)} run(s) logged no evaluation of {target.metric}: seed(s) "
                   f"{', '.join(str(r.seed) for r in none)}.")
    from_final = [r for r in results if r.reached and r.first_iteration is None]
    if from_final:
        out.append(f"{len(from_final)} run(s) met the target only in the final evaluation of summary.json, "
                   "so they count as successes without a time to target.")
    return out


# -- loading and checking the set of runs ----------------------------------------------------------------

def load_study(run_dirs: Sequence[str | Path]) -> list[RunData]:
    """Load every run; RunDataError if they are not seeds of one configuration."""
    if not run_dirs:
        raise RunDataError("a study needs at least one run folder")
    seen: dict[Path, str] = {}
    for d in run_dirs:
        resolved = Path(d).resolve()
        if resolved in seen:
            raise RunDataError(f"run folder {d} is given twice")
        seen[resolved] = str(d)
    runs = [load_run(d) for d in run_dirs]
    base = runs[0]
    ignore = {"seed", "preset"}
    for run in runs[1:]:
        keys = sorted(set(base.config) | set(run.config))
        differ = [k for k in keys if k not in ignore and base.config.get(k) != run.config.get(k)]
        if differ:
            shown = ", ".join(f"{k} ({base.config.get(k)!r} vs {run.config.get(k)!r})" for k in differ[:3])
            raise RunDataError(f"{base.run_dir} and {run.run_dir} differ in {shown}"
                               f"{' and more' if len(differ) > 3 else ''}; a study compares seeds of one "
                               "configuration")
    seeds: dict[object, Path] = {}
    for run in runs:
        if run.seed in seeds:
            raise RunDataError(f"{seeds[run.seed]} and {run.run_dir} both have seed {run.seed}; a study "
                               "needs distinct seeds")
        seeds[run.seed] = run.run_dir
    return runs


# -- figures ---------------------------------------------------------------------------------------------

def _overlay_figure(runs: Sequence[RunData], target: Target):
    keys = [f"eval/{target.metric}"]
    present: list[str] = []
    for run in runs:
        for k in run.eval_keys():
            if k not in present:
                present.append(k)
    for key, _, _ in headline_eval(present):
        if key not in keys and len(keys) < 4:
            keys.append(key)
    keys += ["loss/entropy", "charts/learner_win"]
    ncols = 3
    nrows = math.ceil(len(keys) / ncols)
    fig = layout.new_figure(7.5, 2.2 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for idx, ax in enumerate(axes.flat):
        if idx >= len(keys):
            ax.set_visible(False)
            continue
        key = keys[idx]
        drawn = 0
        for run in runs:
            its, vals = run.series(key)
            if its.size:
                ax.plot(its, vals, label=f"seed {run.seed}", marker="o" if its.size <= 30 else None,
                        markersize=2)
                drawn += 1
        name = key.split("/", 1)[1]
        symlog = name.startswith("exploitability")
        ax.set_title(name + (" (symlog)" if symlog else ""))
        ax.set_xlabel("iteration")
        if symlog:
            ax.set_yscale("symlog", linthresh=1e-3)
        if idx == 0 and target.target is not None and drawn:
            ax.axhline(target.target, color="0.3", linestyle=":", linewidth=0.8)
        if drawn == 0:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="0.4")
        elif idx == 0 and len(runs) <= 10:
            ax.legend(loc="best")
    return fig


# -- the document ----------------------------------------------------------------------------------------

def _opt(x: float | None, f=num) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f(x)


def _across_rows(stats: StudyStats, target: Target) -> list[list[str]]:
    rows = []
    for label, iv in ((f"final {target.metric}", stats.final), (f"last-{LAST_N} mean {target.metric}",
                                                                 stats.stable)):
        interval = "n/a" if math.isnan(iv.half_width) else f"{num(iv.lo)} to {num(iv.hi)}"
        rows.append([label, str(iv.n), _opt(iv.mean), interval, "mean, Student-t 95%"])
    if stats.success is not None:
        s = stats.success
        rows.append([f"reached {target.describe()}", str(s.n), f"{s.successes}/{s.n}",
                     f"{pct(s.lo)} to {pct(s.hi)}", "count, Clopper-Pearson 95%"])
        for label, mc, f in (("first iteration at target", stats.first_iteration, lambda x: f"{x:g}"),
                             ("wall time to target", stats.first_time, secs)):
            rows.append([label, f"{mc.count} of {mc.total}", _opt(mc.median, f), "",
                         "median over the runs that reached it"])
    return rows


def write_study_report(run_dirs: Sequence[str | Path], out_pdf: str | Path, metric: str | None = None,
                       target: float | None = None, dpi: int = layout.FIGURE_DPI) -> Path:
    """Write the study report of `run_dirs` (seeds of one configuration) to `out_pdf`."""
    runs = load_study(run_dirs)
    tgt = default_target(runs[0].game, metric, target)
    results = [seed_result(run, tgt) for run in runs]
    stats = study_stats(results, tgt)

    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    title = f"Study report: {runs[0].game}, preset {preset_name(runs[0].config)}, {len(runs)} seeds"
    pdf = layout.new_document(title, f"Seeds {', '.join(str(r.seed) for r in runs)}.  Headline metric: "
                                f"{tgt.describe()}.  Written {stamp}.")

    layout.heading(pdf, "What the numbers say")
    layout.bullets(pdf, study_sentences(results, tgt, stats))

    layout.heading(pdf, "Across seeds")
    layout.table(pdf, ["quantity", "n", "estimate", "95% interval", "method"], _across_rows(stats, tgt),
                 col_widths=[4, 1.2, 1.6, 2.4, 3])

    layout.heading(pdf, "Per seed")
    rows = []
    for r in results:
        rows.append([str(r.seed), "n/a" if r.reached is None else ("yes" if r.reached else "no"),
                     _opt(r.first_iteration, str), _opt(r.first_time_s, secs),
                     r.final_text if r.final_text is not None else
                     _opt(r.final_value) + ("" if r.final_source != "last evaluation" else " (last eval)"),
                     _opt(r.stable_mean) + (f" ({r.stable_count})" if r.stable_count < LAST_N else ""),
                     str(r.n_evals), _opt(r.iterations_run, str), r.stopped_reason or "unfinished"])
    layout.table(pdf, ["seed", "reached", "first iter", "wall at first", f"final {tgt.metric}",
                  f"last-{LAST_N} mean", "evals", "iters run", "stopped"], rows,
                 col_widths=[1, 1.2, 1.2, 1.5, 2.4, 2, 1, 1.2, 1.8], size=7)
    layout.paragraph(pdf, f"first iter / wall at first: the first logged evaluation that met the target "
                     f"(iteration as logged, time/elapsed_s of that record). last-{LAST_N} mean: the mean of "
                     f"the run's last {LAST_N} logged evaluations (count in brackets when fewer).", size=7)

    notes = [(run.seed, note) for run in runs for note in run.notes]
    if notes:
        layout.heading(pdf, "Missing or partial data")
        layout.bullets(pdf, [f"seed {seed}: {note}" for seed, note in notes], size=8)

    layout.heading(pdf, "Curves, one line per seed")
    if any(run.metrics for run in runs):
        with layout.figure_style():
            layout.add_figure(pdf, _overlay_figure(runs, tgt), dpi=dpi)
    else:
        layout.paragraph(pdf, "No curves: no run has logged an iteration.")

    layout.heading(pdf, "Configuration shared by the runs (seed varies)")
    layout.key_value_table(pdf, [(k, "varies" if k == "seed" else v) for k, v in runs[0].config.items()])
    layout.heading(pdf, "Run folders")
    layout.table(pdf, ["seed", "folder"], [[str(r.seed), str(r.run_dir)] for r in runs], col_widths=[1, 8],
                 size=7)
    layout.heading(pdf, "Machine that wrote this report")
    layout.key_value_table(pdf, list(layout.machine_info().items()))
    return layout.save(pdf, out_pdf)


__all__ = [
    "SeedResult", "StudyStats", "Target", "default_target", "load_study", "mean_sentence", "seed_result",
    "study_sentences", "study_stats", "success_sentence", "time_to_target_sentence", "write_study_report",
]
