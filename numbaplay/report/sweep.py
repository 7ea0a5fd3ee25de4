"""Sweep report: what `numbaplay sweep` searched, which trial won, and how sure the seeds let us be.

Every sentence is computed from the sweep folder (`sweep.json`, `trials.jsonl`): the best trial by the
mean over seeds, its 95% interval, and which other trials' intervals overlap it (their ranking against
the best is not resolved by these seeds). Figures: each trial's mean with its interval in trial order
with the best so far, and the trial means against each searched numeric key.
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from numbaplay.report import pdf as layout
from numbaplay.report.stats import t_interval
from numbaplay.report.training import RunDataError, num
from numbaplay.sweep import SETTINGS_FILE, finished_trials


def _val(v) -> str:
    """A searched value: three significant digits for floats (learning rates are small)."""
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def load_sweep(folder: str | Path) -> tuple[dict, list[dict]]:
    """(settings, finished trials) of a sweep folder; RunDataError when it holds no sweep."""
    folder = Path(folder)
    try:
        settings = json.loads((folder / SETTINGS_FILE).read_text())
        trials = finished_trials(folder)
    except (OSError, ValueError) as exc:
        raise RunDataError(f"{str(folder)!r} is not a readable sweep folder ({exc})") from None
    ok = (isinstance(settings, dict) and isinstance(settings.get("metric"), str)
          and settings.get("direction") in ("minimize", "maximize") and isinstance(settings.get("seeds"), list)
          and isinstance(settings.get("iterations"), int) and isinstance(settings.get("params"), list)
          and isinstance(settings.get("game"), str) and isinstance(settings.get("preset"), str))
    if not ok:
        raise RunDataError(f"{folder / SETTINGS_FILE} is not a sweep settings file (game, preset, params, metric, "
                           "direction, seeds, iterations)")
    return settings, trials


def is_sweep(folder: str | Path) -> bool:
    return (Path(folder) / SETTINGS_FILE).is_file()


def ranked(settings: dict, trials: list[dict]) -> list[dict]:
    """Trials best first (ties: the earlier trial)."""
    sign = 1.0 if settings["direction"] == "minimize" else -1.0
    return sorted(trials, key=lambda t: (sign * t["mean"], t["trial"]))


def sweep_sentences(settings: dict, trials: list[dict]) -> list[str]:
    metric, n_seeds = settings["metric"], len(settings["seeds"])
    if not trials:
        return ["No trial has finished yet."]
    order = ranked(settings, trials)
    best = order[0]
    lo, hi = best["ci95"]
    better = "lower" if settings["direction"] == "minimize" else "higher"
    out = [f"{len(trials)} trials, each trained on {n_seeds} seed(s) for {settings['iterations']} iterations; "
           f"{metric} ({better} is better) is the mean over the seeds.",
           f"Best: trial {best['trial']}, {metric} {num(best['mean'])}"
           + (f" (95% interval {num(lo)} to {num(hi)})" if n_seeds > 1 else "") + ", with "
           + ", ".join(f"{k} = {_val(v)}" for k, v in best["params"].items()) + "."]
    if n_seeds < 2:
        out.append("With one seed per trial there are no intervals: the ranking rests on single runs.")
    else:
        # Every trial ran the same seeds, so each is compared with the best seed by seed: the Student-t 95%
        # interval of the mean paired difference. An interval that contains 0 leaves the order unresolved.
        unresolved = []
        for t in order[1:]:
            seeds = [s for s in best["values"] if s in t["values"]]
            diffs = [t["values"][s] - best["values"][s] for s in seeds]
            ci = t_interval(diffs, 0.95) if len(diffs) > 1 else None
            if ci is None or not (ci.lo > 0 or ci.hi < 0):
                unresolved.append(t["trial"])
        if unresolved:
            out.append(f"{len(unresolved)} other trial(s) are not resolved from the best one by these seeds (the "
                       "95% interval of their paired difference, seed by seed, contains 0): trial(s) "
                       f"{', '.join(map(str, unresolved[:10]))}{', ...' if len(unresolved) > 10 else ''}.")
        elif len(order) > 1:
            out.append("Every other trial differs from the best one by a paired difference, seed by seed, whose "
                       "95% interval excludes 0.")
    means = [t["mean"] for t in trials]
    out.append(f"Trial means ranged from {num(min(means))} to {num(max(means))}.")
    return out


def _trials_figure(settings: dict, trials: list[dict]):
    fig = layout.new_figure(7.5, 2.6)
    ax = fig.add_subplot(1, 1, 1)
    xs = [t["trial"] for t in trials]
    means = [t["mean"] for t in trials]
    err = [[t["mean"] - t["ci95"][0] for t in trials], [t["ci95"][1] - t["mean"] for t in trials]]
    ax.errorbar(xs, means, yerr=err, fmt="o", markersize=3, capsize=2, label="trial mean, 95% interval")
    pick = min if settings["direction"] == "minimize" else max
    running, best = [], None
    for m in means:
        best = m if best is None else pick(best, m)
        running.append(best)
    ax.step(xs, running, where="post", color="#c44e52", label="best so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(settings["metric"])
    ax.legend()
    return fig


def _params_figure(settings: dict, trials: list[dict]):
    numeric = [p for p in settings["params"] if "choices" not in p]
    fig = layout.new_figure(7.5, 2.4)
    for i, p in enumerate(numeric[:4]):
        ax = fig.add_subplot(1, min(len(numeric), 4), i + 1)
        ax.scatter([t["params"][p["name"]] for t in trials], [t["mean"] for t in trials], s=8)
        if p["log"]:
            ax.set_xscale("log")
        ax.set_xlabel(p["name"])
        if i == 0:
            ax.set_ylabel(settings["metric"])
    return fig


def write_sweep_report(folder: str | Path, out_pdf: str | Path, dpi: int = layout.FIGURE_DPI) -> Path:
    settings, trials = load_sweep(folder)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    title = f"Sweep report: {settings['game']}, preset {settings['preset']}, {len(trials)} trials"
    pdf = layout.new_document(title, f"Metric {settings['metric']} ({settings['direction']}), seeds "
                                     f"{', '.join(map(str, settings['seeds']))}.  Written {stamp}.")
    layout.heading(pdf, "What the numbers say")
    layout.bullets(pdf, sweep_sentences(settings, trials))
    layout.heading(pdf, "Searched")
    layout.table(pdf, ["key", "range or choices", "scale"],
                 [[p["name"], ", ".join(map(str, p["choices"])) if "choices" in p else f"{p['low']} to {p['high']}",
                   "choices" if "choices" in p else ("log" if p["log"] else "linear")] for p in settings["params"]],
                 col_widths=[2, 4, 1.5])
    if trials:
        layout.heading(pdf, "Trials, best first")
        names = [p["name"] for p in settings["params"]]
        rows = [[str(t["trial"]), *[_val(t["params"][k]) for k in names],
                 num(t["mean"]), f"{num(t['ci95'][0])} to {num(t['ci95'][1])}" if len(t["values"]) > 1 else "n/a",
                 ", ".join(num(v) for v in t["values"].values())] for t in ranked(settings, trials)]
        layout.table(pdf, ["trial", *names, "mean", "95% interval", "per seed"], rows, size=7)
        with layout.figure_style():
            layout.add_figure(pdf, _trials_figure(settings, trials), dpi=dpi,
                              caption="Each trial's mean over seeds with its 95% t interval, in trial order."
                              if len(settings["seeds"]) > 1 else
                              "Each trial's value (one seed per trial, so no interval), in trial order.")
            if any("choices" not in p for p in settings["params"]):
                layout.add_figure(pdf, _params_figure(settings, trials), dpi=dpi,
                                  caption="Trial means against each searched numeric key (first four).")
    layout.heading(pdf, "Base configuration (searched keys, seed and iterations set per run)")
    layout.key_value_table(pdf, list(settings["base"].items()))
    layout.heading(pdf, "Machine that wrote this report")
    layout.key_value_table(pdf, list(layout.machine_info().items()))
    return layout.save(pdf, out_pdf)
