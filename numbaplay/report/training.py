"""Training report: one run folder (config.json, metrics.jsonl, summary.json) as a short PDF.

Every sentence of interpretation is produced by a small function below from the logged numbers, so a
sentence can only say what the data says; the functions are public so that tests can pin them. Words
with a fixed meaning (SPEC section 7): "stable" / "the last five evaluations" is the mean of the last
five evaluations of the run, never the best single one; a "first reached" iteration is the `iteration`
field of the first metrics record whose evaluation met the target (0-based, as logged).

A folder that is not a run at all (no config.json, unreadable JSON, a record without an iteration) is a
`RunDataError`; a run that is merely young or cut short (no evaluation yet, no summary.json, a half
written last line) still gets a report, which lists what is missing.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np

from numbaplay.config import MAX_ITERATIONS
from numbaplay.errors import NumbaplayError
from numbaplay.report import pdf as layout

SAMPLED_THRESHOLD = 0.01
"""Sampled exploitability below this counts as "near optimal"; the evaluator's default threshold."""
LAST_N = 5
"""How many evaluations "the last evaluations" (the stable value) averages over (SPEC section 7)."""
RECENT_ITERS = 10
"""How many iterations the self-play W/D/L sentence averages over."""

EXPECTED_CONFIG_KEYS = (
    "game", "arch", "hidden", "depth", "iterations", "games_per_iter", "batch_size", "epochs", "lr",
    "lr_min", "lr_schedule", "gamma", "gae_lambda", "clip_eps", "vf_coef", "ent_coef", "ent_coef_min",
    "ent_schedule", "max_grad_norm", "opp_temperature", "draw_reward", "pool_size", "snapshot_interval",
    "seed", "eval_every",
)
CURVE_KEYS = (
    "loss/policy", "loss/value", "loss/total", "loss/grad_norm", "loss/entropy", "loss/approx_kl",
    "loss/clip_frac", "loss/explained_variance", "charts/learner_win", "charts/learner_draw",
    "charts/learner_loss", "charts/pool_size", "charts/lr", "charts/ent_coef", "time/rollout_s",
    "time/gae_s", "time/update_s", "time/iteration_s", "time/elapsed_s",
)


class RunDataError(NumbaplayError, ValueError):
    """A folder that cannot be read as a training run (names the file and the problem)."""


# -- loading ---------------------------------------------------------------------------------------------

def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class RunData:
    """What a run folder holds, plus notes (whole sentences) on whatever is missing or was repaired."""

    run_dir: Path
    """The run folder."""
    config: dict
    """config.json as written by the trainer."""
    metrics: list[dict]
    """metrics.jsonl records, one per iteration, sorted by iteration (last record wins on repeats)."""
    summary: dict | None
    """summary.json, or None when the run has not finished."""
    notes: list[str] = field(default_factory=list)
    """Sentences naming missing or partial data."""

    @property
    def game(self) -> str:
        return str(self.config.get("game", "unknown game"))

    @property
    def seed(self) -> object:
        return self.config.get("seed")

    @property
    def final_eval(self) -> dict | None:
        """summary.json's final evaluation, if the run got that far."""
        if self.summary is None:
            return None
        ev = self.summary.get("final_eval")
        return ev if isinstance(ev, dict) else None

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(iterations int64, values float64) of the records where `key` holds a number."""
        its, vals = [], []
        for rec in self.metrics:
            value = rec.get(key)
            if is_number(value):
                its.append(rec["iteration"])
                vals.append(float(value))
        return np.asarray(its, dtype=np.int64), np.asarray(vals, dtype=np.float64)

    def eval_keys(self) -> list[str]:
        """Every `eval/` key that holds a number somewhere, in first-seen order."""
        seen: dict[str, None] = {}
        for rec in self.metrics:
            for key, value in rec.items():
                if key.startswith("eval/") and is_number(value):
                    seen.setdefault(key, None)
        return list(seen)


def _read_json_object(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RunDataError(f"{path}: {what} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except UnicodeDecodeError:
        raise RunDataError(f"{path}: {what} is not UTF-8 text") from None
    if not isinstance(data, dict):
        raise RunDataError(f"{path}: {what} must hold a JSON object, found {type(data).__name__}")
    return data


def _read_metrics(path: Path, notes: list[str]) -> list[dict]:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise RunDataError(f"{path}: not UTF-8 text") from None
    lines = text.split("\n")
    last_content = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    by_iteration: dict[int, dict] = {}
    repeated: set[int] = set()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            # A run killed while writing leaves a half line at the very end, without a newline.
            if i == last_content and not text.endswith("\n"):
                notes.append(f"The last line of metrics.jsonl (line {i + 1}) is cut off, as when a run is "
                             "killed while writing; it was skipped.")
                continue
            raise RunDataError(f"{path}:{i + 1}: not valid JSON ({exc.msg})") from None
        if not isinstance(rec, dict):
            raise RunDataError(f"{path}:{i + 1}: a record must be a JSON object, found {type(rec).__name__}")
        it = rec.get("iteration")
        if isinstance(it, bool) or not isinstance(it, int) or not 0 <= it < MAX_ITERATIONS:
            raise RunDataError(f"{path}:{i + 1}: record has no integer 'iteration' in [0, {MAX_ITERATIONS}) "
                               f"(found {it!r})")
        if it in by_iteration:
            repeated.add(it)
        by_iteration[it] = rec
    if repeated:
        notes.append(f"metrics.jsonl logs {len(repeated)} iteration(s) more than once (first: "
                     f"{min(repeated)}), as a resumed run does; the last record of each is used.")
    return [by_iteration[k] for k in sorted(by_iteration)]


def _ranges(values: Sequence[int]) -> str:
    """[3, 4, 5, 9] -> '3-5, 9' (at most 4 ranges shown)."""
    parts: list[str] = []
    start = prev = None
    for v in list(values) + [None]:
        if start is None:
            start = prev = v
        elif v is not None and v == prev + 1:
            prev = v
        else:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = prev = v
    shown = ", ".join(parts[:4])
    return shown + (f" and {len(parts) - 4} more ranges" if len(parts) > 4 else "")


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder; RunDataError (one line) when it is not a readable run."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise RunDataError(f"run folder {run_dir} does not exist")
    if not run_dir.is_dir():
        raise RunDataError(f"{run_dir} is not a folder; give a run folder holding config.json")
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise RunDataError(f"{run_dir} has no config.json, so it is not a training run folder")
    config = _read_json_object(cfg_path, "config.json")
    notes: list[str] = []
    missing_keys = [k for k in EXPECTED_CONFIG_KEYS if k not in config]
    if missing_keys:
        notes.append(f"config.json lacks {len(missing_keys)} expected key(s): {', '.join(missing_keys)}.")

    metrics_path = run_dir / "metrics.jsonl"
    if metrics_path.is_file():
        metrics = _read_metrics(metrics_path, notes)
        if not metrics:
            notes.append("metrics.jsonl is empty: no iteration has been logged yet.")
    else:
        metrics = []
        notes.append("metrics.jsonl is missing: no iteration has been logged.")
    if metrics:
        logged = {rec["iteration"] for rec in metrics}
        gaps = [i for i in range(max(logged) + 1) if i not in logged]
        if gaps:
            notes.append(f"metrics.jsonl has no record for {len(gaps)} iteration(s): {_ranges(gaps)}.")
        for key in CURVE_KEYS:
            if not any(is_number(rec.get(key)) for rec in metrics):
                notes.append(f"No iteration logs a number for '{key}'; its curve is empty.")

    summary_path = run_dir / "summary.json"
    summary = None
    if summary_path.is_file():
        summary = _read_json_object(summary_path, "summary.json")
        ev = summary.get("final_eval")
        if ev is not None and not isinstance(ev, dict):
            raise RunDataError(f"{summary_path}: 'final_eval' must be a JSON object, "
                               f"found {type(ev).__name__}")
        run_count = summary.get("iterations_run")
        if run_count is not None and (isinstance(run_count, bool) or not isinstance(run_count, int)):
            raise RunDataError(f"{summary_path}: 'iterations_run' must be an integer, found {run_count!r}")
        if ev is None:
            notes.append("summary.json has no final evaluation ('final_eval').")
        if isinstance(run_count, int) and metrics and run_count != len(metrics):
            notes.append(f"summary.json says {run_count} iterations ran but metrics.jsonl holds "
                         f"{len(metrics)} records.")
    else:
        notes.append("summary.json is missing: the run is still going or was interrupted, so there is no "
                     "final evaluation.")
    run = RunData(run_dir, config, metrics, summary, notes)
    if metrics and not run.eval_keys():
        every = config.get("eval_every")
        notes.append("No evaluation has been logged in metrics.jsonl yet"
                     + (f" (eval_every = {every})." if every is not None else "."))
    return run


def preset_name(config: dict) -> str:
    """config['preset'] when recorded; else the preset equal to the config apart from its seed, keys a
    config lacks (one written before the key existed) taking their defaults; else 'custom'."""
    name = config.get("preset")
    if isinstance(name, str) and name:
        return name
    from dataclasses import fields

    from numbaplay.config import TrainConfig
    from numbaplay.presets import PRESETS

    defaults = {f.name: f.default for f in fields(TrainConfig)}

    def body(values: dict) -> dict:
        return {k: v for k, v in {**defaults, **values}.items() if k not in ("seed", "preset")}

    for candidate, values in PRESETS.items():
        if body(values) == body(config):
            return candidate
    return "custom"


# -- sentences -------------------------------------------------------------------------------------------

def num(x: float) -> str:
    """A number for prose: three decimals, or scientific when that would hide a non-zero value."""
    x = float(x)
    if math.isnan(x):
        return "n/a"
    if x == 0.0 or 1e-3 <= abs(x) < 1e4:
        return f"{x:.3f}"
    return f"{x:.2e}"


def pct(x: float) -> str:
    """A fraction as a percentage with one decimal."""
    return f"{100.0 * float(x):.1f}%"


def secs(x: float) -> str:
    """Seconds for prose."""
    x = float(x)
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def _target_text(target: float) -> str:
    return f"{target:g}"


def _reached(values: np.ndarray, target: float, strict: bool) -> np.ndarray:
    return values < target if strict else values <= target


def last_mean(values: Sequence[float], last_n: int = LAST_N) -> tuple[float, int]:
    """Mean of the last `last_n` values (the stable value) and how many there were."""
    vals = np.asarray(values, dtype=np.float64)
    k = min(last_n, vals.size)
    return (float(vals[-k:].mean()) if k else float("nan")), int(k)


def _last_phrase(k: int, last_n: int) -> str:
    if k < last_n:
        return f"the last {k} evaluations (all that were logged)" if k > 1 else "the only evaluation"
    return f"the last {k} evaluations"


def first_reached_sentence(label: str, iterations: Sequence[int], values: Sequence[float],
                           target: float = 0.0, strict: bool = False, last_n: int = LAST_N) -> str:
    """When `label` first met the target, whether it held over the last evaluations, and their mean."""
    its = np.asarray(iterations, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    n = int(vals.size)
    t = _target_text(target)
    verb_at = f"below {t}" if strict else f"at {t}"
    verb_first = f"first fell below {t}" if strict else f"first reached {t}"
    if n == 0:
        return f"{label} was never evaluated, so nothing can be said about it."
    mean, k = last_mean(vals, last_n)
    last_text = _last_phrase(k, last_n)
    hit = _reached(vals, target, strict)
    first = np.flatnonzero(hit)
    if first.size == 0:
        j = int(np.argmin(vals))
        return (f"{label} never got {verb_at.replace('at ', 'to ', 1)} in {n} evaluations (iterations "
                f"{its[0]} to {its[-1]}); its lowest value was {num(vals[j])} at iteration {its[j]}, and "
                f"the mean of {last_text} is {num(mean)}.")
    f0 = int(first[0])
    head = f"{label} {verb_first} at iteration {its[f0]}"
    after = n - f0
    held = int(hit[f0:].sum())
    if f0 == n - 1:
        return f"{head}, in the last evaluation; the mean of {last_text} is {num(mean)}."
    if held == after and after >= k:
        return f"{head} and stayed {verb_at} for {last_text} (mean {num(mean)})."
    if held == after:
        return (f"{head} and stayed {verb_at} for all {after} evaluations from then on; the mean of "
                f"{last_text} is {num(mean)}.")
    if hit[-k:].all():
        return (f"{head}; {held} of the {after} evaluations from then on were {verb_at}, including "
                f"{last_text} (mean {num(mean)}).")
    return (f"{head}, but only {held} of the {after} evaluations from then on were {verb_at}; "
            f"the mean of {last_text} is {num(mean)}.")


def trend_sentence(label: str, iterations: Sequence[int], values: Sequence[float],
                   last_n: int = LAST_N) -> str:
    """Where `label` started and ended, its extremes, and the mean of the last evaluations."""
    its = np.asarray(iterations, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    n = int(vals.size)
    if n == 0:
        return f"{label} was never evaluated, so nothing can be said about it."
    if n == 1:
        return f"{label} was evaluated once, at iteration {its[0]}: {num(vals[0])}."
    lo, hi = int(np.argmin(vals)), int(np.argmax(vals))
    mean, k = last_mean(vals, last_n)
    return (f"{label} went from {num(vals[0])} at iteration {its[0]} to {num(vals[-1])} at iteration "
            f"{its[-1]} (lowest {num(vals[lo])} at iteration {its[lo]}, highest {num(vals[hi])} at "
            f"iteration {its[hi]}); the mean of {_last_phrase(k, last_n)} is {num(mean)}.")


def entropy_sentence(iterations: Sequence[int], entropy: Sequence[float]) -> str:
    """How the policy entropy of the learner's own moves changed."""
    its = np.asarray(iterations, dtype=np.int64)
    ent = np.asarray(entropy, dtype=np.float64)
    if ent.size == 0:
        return "No policy entropy was logged."
    if ent.size == 1:
        return f"Policy entropy was {num(ent[0])} at iteration {its[0]}, the only one logged."
    # A direction only where the printed values differ: a change below their precision is not a trend.
    direction = "stayed" if num(ent[-1]) == num(ent[0]) else ("fell" if ent[-1] < ent[0] else "rose")
    ends = f"at {num(ent[0])}" if direction == "stayed" else f"from {num(ent[0])} to {num(ent[-1])}"
    return (f"Policy entropy {direction} {ends} between iterations {its[0]} and {its[-1]} "
            f"(lowest {num(ent.min())}, at iteration {its[int(np.argmin(ent))]}).")


def kl_sentence(iterations: Sequence[int], approx_kl: Sequence[float], clip_frac: Sequence[float]) -> str:
    """Typical and largest size of the policy updates."""
    its = np.asarray(iterations, dtype=np.int64)
    kl = np.asarray(approx_kl, dtype=np.float64)
    cf = np.asarray(clip_frac, dtype=np.float64)
    if kl.size == 0 or cf.size == 0 or kl.size != its.size or cf.size != its.size:
        return "Approx KL and clip fraction were not logged for every iteration, so they are not summarised."
    j = int(np.argmax(kl))
    c = int(np.argmax(cf))
    return (f"Approx KL averaged {num(kl.mean())} per iteration (largest {num(kl[j])} at iteration "
            f"{its[j]}); the clip fraction averaged {num(cf.mean())} (largest {num(cf[c])} at iteration "
            f"{its[c]}).")


def wdl_sentence(iterations: Sequence[int], win: Sequence[float], draw: Sequence[float],
                 loss: Sequence[float], games: Sequence[float] | None = None,
                 recent: int = RECENT_ITERS) -> str:
    """The learner's self-play results against the pool over the last `recent` iterations."""
    its = np.asarray(iterations, dtype=np.int64)
    w, d, ls = (np.asarray(a, dtype=np.float64) for a in (win, draw, loss))
    n = int(its.size)
    if n == 0 or not (w.size == d.size == ls.size == n):
        return "The learner's self-play results were not logged for every iteration."
    k = min(recent, n)
    weights = np.ones(k) if games is None else np.asarray(games, dtype=np.float64)[-k:]
    if weights.size != k or weights.sum() <= 0:
        weights = np.ones(k)
    mw, md, ml = (float(np.average(a[-k:], weights=weights)) for a in (w, d, ls))
    span = f"iteration {its[-1]}" if k == 1 else f"the last {k} iterations ({its[-k]} to {its[-1]})"
    return (f"Over {span} the learner won {pct(mw)}, drew {pct(md)} and lost {pct(ml)} of its self-play "
            f"games against the opponent pool.")


def time_sentence(rollout: Sequence[float], gae: Sequence[float], update: Sequence[float],
                  iteration: Sequence[float], eval_s: Sequence[float], wall_time_s: float | None,
                  wall_label: str = "the run's wall time") -> str:
    """Where the time went: total seconds and share per phase, and the wall time."""
    r, g, u, it, ev = (float(np.sum(np.asarray(a, dtype=np.float64))) for a in
                       (rollout, gae, update, iteration, eval_s))
    n_iter = len(iteration)
    n_eval = len(eval_s)
    if n_iter == 0:
        return "No iteration times were logged."
    other = max(it - (r + g + u), 0.0)
    total = it + ev
    if total <= 0:
        return f"The {n_iter} logged iterations report no time spent."

    def share(x: float) -> str:
        return f"{secs(x)} ({100.0 * x / total:.0f}%)"

    text = (f"The {n_iter} logged iterations spent {share(r)} in rollout, {share(g)} in GAE, {share(u)} in "
            f"the PPO update")
    if other > 0.005 * total:
        text += f", {share(other)} elsewhere in the iteration"
    text += f" and {share(ev)} in {n_eval} evaluation(s)"
    if wall_time_s is not None and math.isfinite(wall_time_s):
        text += f"; {wall_label} was {secs(wall_time_s)}"
    times = np.asarray(iteration, dtype=np.float64)
    # Said when the first iteration's excess over the others' median is a tenth of the time or more: then
    # the shares above describe mostly that one iteration (on a cold cache, the kernels' compile).
    if times.size >= 2 and times[0] - float(np.median(times[1:])) >= 0.1 * total:
        excess = {}
        for name, arr in (("rollout", rollout), ("GAE", gae), ("the PPO update", update)):
            a = np.asarray(arr, dtype=np.float64)
            if a.size == times.size:
                excess[name] = float(a[0] - np.median(a[1:]))
        where = f", most of the difference in {max(excess, key=excess.get)}" if excess else ""
        text += (f". The first iteration alone took {secs(times[0])}, against a median of "
                 f"{secs(float(np.median(times[1:])))} for the others{where}: the first includes compiling the "
                 "kernels whenever Numba's cache was cold, so the shares above are not the steady state's")
    return text + "."


def progress_sentence(config: dict, metrics: Sequence[dict], summary: dict | None) -> str:
    """How far the run got and why it stopped."""
    configured = config.get("iterations")
    of = f" of {configured} configured" if configured is not None else ""
    if summary is not None:
        ran = summary.get("iterations_run", len(metrics))
        reason = summary.get("stopped_reason", "not recorded")
        return f"The run finished after {ran}{of} iterations (stopped_reason: {reason})."
    if not metrics:
        return f"No iteration has been logged yet{' (' + str(configured) + ' configured)' if of else ''}."
    last = metrics[-1]["iteration"]
    return (f"The run has not finished (no summary.json): metrics.jsonl logs {len(metrics)} iterations, the "
            f"last being iteration {last}{of}.")


def final_eval_sentence(final_eval: dict | None, source: str = "The final evaluation") -> str:
    """The headline numbers of an evaluation dict, in words."""
    if not final_eval:
        return "There is no final evaluation yet."
    parts = []
    eg, es = final_eval.get("exploitability_greedy"), final_eval.get("exploitability_sampled")
    if is_number(eg):
        text = f"greedy exploitability {num(eg)}"
        if eg == 0:
            text += " (no opponent can beat the greedy policy from either seat)"
        parts.append(text)
    if is_number(es):  # four decimals: 0.00996 is below the 0.01 threshold, and "0.010" would hide it
        parts.append(f"sampled exploitability {es:.4f}")
    if is_number(final_eval.get("optimal_move_rate")):
        parts.append(f"optimal-move rate {pct(final_eval['optimal_move_rate'])}")
    for opp in ("perfect", "random"):
        keys = [f"vs_{opp}_{o}" for o in ("win", "draw", "loss")]
        if all(is_number(final_eval.get(k)) for k in keys):
            w, d, ls = (final_eval[k] for k in keys)
            parts.append(f"against a {opp} player it wins {pct(w)}, draws {pct(d)} and loses {pct(ls)}")
    elo = final_eval.get("elo")
    bound = elo if isinstance(elo, str) else final_eval.get("elo_bound")  # older evaluations kept it in "elo"
    if isinstance(bound, str) and not is_number(elo):
        parts.append(f"Elo {bound}, a bound only: {elo_bound_reason(final_eval)}")
    elif is_number(final_eval.get("elo")):
        text = f"Elo {final_eval['elo']:.0f}"
        lo, hi = final_eval.get("elo_lo"), final_eval.get("elo_hi")
        if is_number(lo) and is_number(hi):
            text += f" (95% interval {lo:.0f} to {hi:.0f})"
        elif is_number(lo) or is_number(hi):  # the bootstrap found no finite end on one side
            text += (f" (95% interval from {lo:.0f} up, with no finite upper end)" if is_number(lo) else
                     f" (95% interval up to {hi:.0f}, with no finite lower end)")
        parts.append(text)
    for key in sorted(final_eval):
        m = re.fullmatch(r"mistakes/(.+)/rate", key)
        if m and is_number(final_eval[key]):
            parts.append(f"mistake rate {pct(final_eval[key])} on set {m.group(1)}")
    if not parts:
        return f"{source} holds {len(final_eval)} values; they are listed in the table."
    return f"{source} gives " + "; ".join(parts) + "."


def headline_eval(keys: Sequence[str]) -> list[tuple[str, str, str]]:
    """(key, label, kind) of the eval metrics that get a sentence; kind is 'zero', 'threshold' or 'trend'."""
    known = [
        ("eval/exploitability_greedy", "Greedy exploitability", "zero"),
        ("eval/exploitability_sampled", "Sampled exploitability", "threshold"),
        ("eval/optimal_move_rate", "The optimal-move rate", "trend"),
        ("eval/vs_perfect_loss", "The loss rate against a perfect player", "trend"),
        ("eval/elo", "Elo", "trend"),
    ]
    present = set(keys)
    out = [item for item in known if item[0] in present]
    for key in keys:
        m = re.fullmatch(r"eval/mistakes/(.+)/rate", key)
        if m:
            out.append((key, f"The mistake rate on set {m.group(1)}", "trend"))
    return out


def elo_bound_reason(ev: dict) -> str:
    """Why an evaluation's Elo is a bound, from its ladder score: every game won or every game lost."""
    score = ev.get("elo_score")
    if is_number(score) and score >= 1.0:
        return "it won every ladder game, so no finite rating fits"
    if is_number(score) and score <= 0.0:
        return "it lost every ladder game, so no finite rating fits"
    return "the ladder games fit no finite rating"


def eval_sentences(run: RunData) -> list[str]:
    """One sentence per headline evaluation metric."""
    out = []
    for key, label, kind in headline_eval(run.eval_keys()):
        its, vals = run.series(key)
        if kind == "zero":
            out.append(first_reached_sentence(label, its, vals, target=0.0))
        elif kind == "threshold":
            out.append(first_reached_sentence(label, its, vals, target=SAMPLED_THRESHOLD, strict=True))
        else:
            out.append(trend_sentence(label, its, vals))
        m = re.fullmatch(r"eval/mistakes/(.+)/rate", key)
        if m:  # evaluations during training score fewer positions of a set than the final one
            _, counts = run.series(f"eval/mistakes/{m.group(1)}/positions")
            sizes = sorted({int(c) for c in counts})
            if len(sizes) > 1:
                out.append(f"On set {m.group(1)} the evaluations scored different numbers of positions ("
                           f"{', '.join(map(str, sizes))}; during training at most {int(counts[:-1].max())}, the "
                           f"last {int(counts[-1])}), so its trend and the mean of the last evaluations mix the two.")
    bounded = [(rec["iteration"], rec["eval/elo_bound"]) for rec in run.metrics
               if rec.get("eval/elo") is None and isinstance(rec.get("eval/elo_bound"), str)]
    if bounded:  # a one-sided Elo has no number to trend: listed, not dropped
        out.append(f"{len(bounded)} Elo evaluation(s) gave only a bound (all ladder games won or all lost) and "
                   "are not in any Elo figure above: " + ", ".join(f"{b} at iteration {i}" for i, b in bounded[:5])
                   + (", ..." if len(bounded) > 5 else "") + ".")
    return out


def training_sentences(run: RunData) -> list[str]:
    """Every interpretation sentence of the training report, in order."""
    out = [progress_sentence(run.config, run.metrics, run.summary)]
    if run.metrics and not run.eval_keys():
        out.append("No evaluation has been logged yet, so the curves cannot say how strong the agent is.")
    out.extend(eval_sentences(run))
    if run.final_eval is not None:
        out.append(final_eval_sentence(run.final_eval))
    if run.metrics:
        its, ent = run.series("loss/entropy")
        out.append(entropy_sentence(its, ent))
        its_all = np.asarray([rec["iteration"] for rec in run.metrics])
        kl_its, kl = run.series("loss/approx_kl")
        _, cf = run.series("loss/clip_frac")
        out.append(kl_sentence(kl_its if kl.size == its_all.size else its_all, kl, cf))
        w_its, w = run.series("charts/learner_win")
        _, d = run.series("charts/learner_draw")
        _, ls = run.series("charts/learner_loss")
        _, games = run.series("charts/games")
        out.append(wdl_sentence(w_its, w, d, ls, games if games.size == w.size else None))
        wall, label = None, "the run's wall time"
        if run.summary is not None and is_number(run.summary.get("wall_time_s")):
            wall = float(run.summary["wall_time_s"])
        else:
            e_its, elapsed = run.series("time/elapsed_s")
            if elapsed.size:
                wall, label = float(elapsed[-1]), f"the elapsed time at iteration {e_its[-1]}"
        out.append(time_sentence(run.series("time/rollout_s")[1], run.series("time/gae_s")[1],
                                 run.series("time/update_s")[1], run.series("time/iteration_s")[1],
                                 run.series("time/eval_s")[1], wall, label))
    return out


# -- figures ---------------------------------------------------------------------------------------------

def _no_data(ax, what: str = "no data") -> None:
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, color="0.4")


_OUTCOME_COLORS = {"win": "tab:green", "draw": "tab:gray", "loss": "tab:red"}
_SEAT_STYLE = {None: "-", "first": "--", "second": ":"}


def _line_panel(ax, run: RunData, keys: Sequence[str], title: str, symlog: bool = False) -> None:
    """One line per key; per-seat variants (`_first`, `_second`) share their mean's colour, dashed or
    dotted, and stay out of the legend when the mean is drawn."""
    names = [key.split("/", 1)[-1] for key in keys]
    bases = [re.sub(r"_(first|second)(?=_|$)", "", name) for name in names]
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    colors: dict[str, str] = {}
    drawn = 0
    for key, name, base in zip(keys, names, bases, strict=True):
        its, vals = run.series(key)
        if its.size == 0:
            continue
        seat_match = re.search(r"_(first|second)(?=_|$)", name)
        seat = seat_match.group(1) if seat_match else None
        outcome = base.rsplit("_", 1)[-1]
        color = _OUTCOME_COLORS.get(outcome) if base.startswith("vs_") else None
        color = color or colors.setdefault(base, cycle[len(colors) % len(cycle)])
        label = name if seat is None or base not in names else None
        marker = "o" if its.size <= 30 else None
        ax.plot(its, vals, label=label, color=color, linestyle=_SEAT_STYLE[seat], marker=marker,
                markersize=2, linewidth=1.0 if seat is None else 0.7)
        drawn += 1
    ax.set_title(title)
    ax.set_xlabel("iteration")
    if symlog:
        ax.set_yscale("symlog", linthresh=1e-3)
    if drawn == 0:
        _no_data(ax)
    elif len(keys) > 1:
        ax.legend(loc="best")


def _panels_figure(run: RunData, panels: Sequence[tuple[str, Sequence[str], bool]], ncols: int):
    nrows = math.ceil(len(panels) / ncols)
    fig = layout.new_figure(7.5, 2.1 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for idx, ax in enumerate(axes.flat):
        if idx < len(panels):
            title, keys, symlog = panels[idx]
            _line_panel(ax, run, keys, title, symlog)
        else:
            ax.set_visible(False)
    return fig


Panel = tuple[str, list[str], bool]


def eval_panels(keys: Sequence[str], max_panels: int = 9) -> tuple[list[Panel], list[str]]:
    """Group numeric eval keys into panels (title, keys, symlog); also the keys left out for space."""
    groups: dict[str, tuple[list[str], bool]] = {}
    for key in keys:
        name = key.split("/", 1)[1]
        symlog = False
        if re.fullmatch(r"exploitability_(greedy|sampled)(_first|_second)?", name):
            title, symlog = "exploitability (symlog)", True
        elif m := re.fullmatch(r"vs_(.+?)_(?:(?:first|second)_)?(win|draw|loss)", name):
            title = f"vs {m.group(1)}: win / draw / loss"
        elif name in ("optimal_move_rate", "optimal_move_rate_all"):
            title = "optimal-move rate"
        elif name in ("elo", "elo_lo", "elo_hi"):
            title = "Elo (with 95% bounds)"
        elif re.fullmatch(r"mistakes/.+/rate", name):
            title = "mistake rate"
        else:
            title = name
        groups.setdefault(title, ([], symlog))[0].append(key)
    panels = [(title, ks, sl) for title, (ks, sl) in groups.items()]
    left_out = [k for _, ks, _ in panels[max_panels:] for k in ks]
    return panels[:max_panels], left_out


def _time_figure(run: RunData):
    fig = layout.new_figure(7.5, 2.4)
    ax = fig.subplots()
    its = np.asarray([rec["iteration"] for rec in run.metrics], dtype=np.int64)

    def col(key: str) -> np.ndarray:
        return np.asarray([float(rec[key]) if is_number(rec.get(key)) else 0.0 for rec in run.metrics])

    rollout, gae, update, total, ev = (col(k) for k in ("time/rollout_s", "time/gae_s", "time/update_s",
                                                        "time/iteration_s", "time/eval_s"))
    other = np.maximum(total - (rollout + gae + update), 0.0)
    bottom = np.zeros_like(rollout)
    for values, label in ((rollout, "rollout"), (gae, "GAE"), (update, "update"), (other, "other"),
                          (ev, "evaluation")):
        if np.any(values > 0):
            if its.size <= 150:
                ax.bar(its, values, bottom=bottom, width=1.0, label=label, linewidth=0)
            else:  # thousands of bar patches are slow to draw; a stepped stacked area shows the same
                ax.fill_between(its, bottom, bottom + values, step="mid", label=label, linewidth=0)
            bottom = bottom + values
    ax.set_title("time per phase per iteration")
    ax.set_xlabel("iteration")
    ax.set_ylabel("seconds")
    if np.any(bottom > 0):
        ax.legend(loc="upper right", ncols=5)
    else:
        _no_data(ax)
    return fig


def _selfplay_figure(run: RunData):
    fig = layout.new_figure(7.5, 2.2)
    ax_wdl, ax_pool, ax_sched = fig.subplots(1, 3)
    its, w = run.series("charts/learner_win")
    _, d = run.series("charts/learner_draw")
    _, ls = run.series("charts/learner_loss")
    if its.size and w.size == d.size == ls.size:
        ax_wdl.stackplot(its, w, d, ls, labels=["win", "draw", "loss"],
                         colors=["tab:green", "tab:gray", "tab:red"], alpha=0.8)
        ax_wdl.set_ylim(0, 1)
        ax_wdl.legend(loc="lower left")
    else:
        _no_data(ax_wdl)
    ax_wdl.set_title("learner vs pool: win / draw / loss")
    ax_wdl.set_xlabel("iteration")
    _line_panel(ax_pool, run, ["charts/pool_size"], "opponent pool size")
    _line_panel(ax_sched, run, ["charts/lr"], "lr (left), ent_coef (right)")
    e_its, ent = run.series("charts/ent_coef")
    if e_its.size:
        twin = ax_sched.twinx()
        twin.plot(e_its, ent, color="tab:orange")
        twin.grid(False)
    return fig


def _draw_figures(pdf, run: RunData, dpi: int) -> None:
    if not run.metrics:
        layout.paragraph(pdf, "No curves: no iteration has been logged.")
        return
    with layout.figure_style():
        losses = [("policy loss", ["loss/policy"], False), ("value loss", ["loss/value"], False),
                  ("total loss", ["loss/total"], False), ("grad norm (pre-clip)", ["loss/grad_norm"], False)]
        layout.add_figure(pdf, _panels_figure(run, losses, 4), "Losses per iteration: size-weighted means "
                          "over all minibatches of all epochs.", dpi=dpi)
        policy = [("policy entropy", ["loss/entropy"], False), ("approx KL", ["loss/approx_kl"], False),
                  ("clip fraction", ["loss/clip_frac"], False),
                  ("explained variance", ["loss/explained_variance"], False)]
        layout.add_figure(pdf, _panels_figure(run, policy, 4), "Entropy of the learner's policy and the "
                          "size of each update.", dpi=dpi)
        layout.add_figure(pdf, _selfplay_figure(run), "The learner's self-play results against the pool, the "
                          "pool size and the schedules.", dpi=dpi)
        keys = run.eval_keys()
        if keys:
            panels, left_out = eval_panels(keys)
            caption = ("Evaluation metrics over iterations; where a metric is also logged per seat, dashed "
                       "is the first seat and dotted the second.")
            if left_out:
                caption += f" {len(left_out)} further eval keys appear only in the final table."
            layout.add_figure(pdf, _panels_figure(run, panels, 3), caption, dpi=dpi)
        else:
            layout.paragraph(pdf, "No evaluation curves: no evaluation has been logged yet.")
        layout.add_figure(pdf, _time_figure(run), "Seconds per phase in each iteration; evaluation only on "
                          "evaluation iterations.", dpi=dpi)


# -- the document ----------------------------------------------------------------------------------------

def _last_logged_eval(run: RunData) -> tuple[int, dict] | None:
    for rec in reversed(run.metrics):
        ev = {k[5:]: v for k, v in rec.items() if k.startswith("eval/")}
        if ev:
            return rec["iteration"], ev
    return None


def flatten(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested dicts as (a/b/c, value) pairs, for tables."""
    out: list[tuple[str, object]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(flatten(value, name + "/"))
        else:
            out.append((name, value))
    return out


def _run_title(run: RunData) -> str:
    seed = run.seed if run.seed is not None else "unknown"
    return f"Training report: {run.game}, preset {preset_name(run.config)}, seed {seed}"


def write_training_report(run_dir: str | Path, out_pdf: str | Path, dpi: int = layout.FIGURE_DPI) -> Path:
    """Write the training report of `run_dir` to `out_pdf`; returns the path written."""
    run = load_run(run_dir)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    pdf = layout.new_document(_run_title(run), f"Run folder: {run.run_dir}.  Written {stamp}.")

    layout.heading(pdf, "What the numbers say")
    layout.bullets(pdf, training_sentences(run))

    layout.heading(pdf, "Missing or partial data")
    if run.notes:
        layout.bullets(pdf, run.notes)
    else:
        layout.paragraph(pdf, f"Nothing is missing: config.json, {len(run.metrics)} iterations in "
                              "metrics.jsonl and summary.json with a final evaluation are all present.")

    layout.heading(pdf, "Final evaluation")
    if run.final_eval is not None:
        exact = ""
        if run.game == "tictactoe":
            exact = " (exact: every position of the game is enumerated; SPEC section 7)"
        layout.paragraph(pdf, f"From summary.json{exact}.", size=8)
        layout.key_value_table(pdf, flatten(run.final_eval))
    else:
        last = _last_logged_eval(run)
        if last is None:
            layout.paragraph(pdf, "None: the run has no final evaluation and has logged no evaluation.")
        else:
            layout.paragraph(pdf, f"The run has no final evaluation; this is the last logged evaluation, at "
                             f"iteration {last[0]}, not a final one.")
            layout.key_value_table(pdf, flatten(last[1]))

    layout.heading(pdf, "Curves")
    _draw_figures(pdf, run, dpi)

    layout.heading(pdf, "Configuration (config.json, every key)")
    layout.key_value_table(pdf, list(run.config.items()))

    layout.heading(pdf, "Machine")
    machine = run.summary.get("machine") if run.summary is not None else None
    if isinstance(machine, dict) and machine:
        layout.paragraph(pdf, "The machine that trained (summary.json):", size=8)
        layout.key_value_table(pdf, flatten(machine))
    else:
        layout.paragraph(pdf, "summary.json records no machine for the training run.", size=8)
    layout.paragraph(pdf, "The machine that wrote this report:", size=8)
    layout.key_value_table(pdf, list(layout.machine_info().items()))
    return layout.save(pdf, out_pdf)
