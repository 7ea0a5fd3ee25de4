"""Hyperparameter sweeps: Optuna's TPE sampler proposes configs, each trial trains several seeds, and the
trial's value is the mean of one final-evaluation metric over the seeds (with its 95% interval).

A sweep lives in one folder: `sweep.json` (what is searched, how, and against which metric), `study.db`
(Optuna's SQLite storage, so an interrupted or finished sweep can be continued with more trials),
`trials.jsonl` (one line per finished trial: parameters, per-seed values, mean and interval, wall time),
`best.json` (the best trial and its whole config) and one training run per trial and seed
(`trial-NNNN/seed-S/`, as `numbaplay train` writes it). Trials run one after another; training is
deterministic, and the sampler is seeded, so the same sweep gives the same trials. A continued sweep
reseeds the sampler by the trials it already holds (so it proposes new points): continuing 2 trials to 3
gives the same third trial every time, but not the third trial of one sweep run with 3 at once.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, fields
from pathlib import Path

from numbaplay.config import TrainConfig, from_dict
from numbaplay.errors import ConfigError, NumbaplayError
from numbaplay.eval.connect4_eval import PONS_SETS
from numbaplay.report.stats import t_interval
from numbaplay.runs import OutputDirError

SETTINGS_FILE = "sweep.json"
TRIALS_FILE = "trials.jsonl"
BEST_FILE = "best.json"
LOCK_FILE = ".sweep.lock"  # held (flock) by the process running the sweep
STUDY_NAME = "numbaplay"

# The metrics a sweep can optimise, from the final evaluation of each run, and which way is better.
METRICS = {
    "tictactoe": {"exploitability_sampled": "minimize", "exploitability_greedy": "minimize",
                  "optimal_move_rate": "maximize"},
    "connect4": {"elo": "maximize", **{f"mistakes/{name}/rate": "minimize" for name in PONS_SETS}},
}
DEFAULT_METRIC = {"tictactoe": "exploitability_sampled", "connect4": "elo"}
# Keys a sweep may not search: they define the game and the run, not its hyperparameters.
_FIXED = {"game", "seed", "iterations", "eval_every"}
_TYPES = {f.name: f.type for f in fields(TrainConfig)}


@dataclass(frozen=True)
class Param:
    """One searched key: a float or int range (log scale or not), or a list of choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple | None = None

    def to_dict(self) -> dict:
        if self.choices is not None:
            return {"name": self.name, "choices": list(self.choices)}
        return {"name": self.name, "low": self.low, "high": self.high, "log": self.log}

    def suggest(self, trial):
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if _TYPES[self.name] == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)


def _number(text: str, name: str, kind: str):
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        raise ConfigError(f"--param {name}: {text!r} is not {'an integer' if kind == 'int' else 'a number'}") \
            from None


def parse_param(spec: str) -> Param:
    """`NAME=LOW:HIGH`, `NAME=LOW:HIGH:log` or `NAME=A,B,C` (choices) for a TrainConfig key."""
    name, sep, rest = spec.partition("=")
    name = name.strip()
    if not sep or not rest.strip():
        raise ConfigError(f"--param {spec!r}: expected NAME=LOW:HIGH[:log] or NAME=A,B,...")
    if name not in _TYPES:
        raise ConfigError(f"--param {spec!r}: {name!r} is not a config key")
    if name in _FIXED:
        raise ConfigError(f"--param {spec!r}: {name} is set by the sweep itself, not searched")
    kind = _TYPES[name]
    if ":" in rest:
        parts = [p.strip() for p in rest.split(":")]
        if kind not in ("int", "float") or len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise ConfigError(f"--param {spec!r}: a range is LOW:HIGH or LOW:HIGH:log over a numeric key")
        low, high = _number(parts[0], name, kind), _number(parts[1], name, kind)
        log = len(parts) == 3
        if not low < high:
            raise ConfigError(f"--param {spec!r}: LOW must be below HIGH")
        if log and low <= 0:
            raise ConfigError(f"--param {spec!r}: a log range needs LOW > 0")
        return Param(name, low, high, log)
    raw = [p.strip() for p in rest.split(",") if p.strip()]
    if not raw:
        raise ConfigError(f"--param {spec!r}: no choices")
    choices = tuple(_number(c, name, kind) for c in raw) if kind in ("int", "float") else tuple(raw)
    return Param(name, choices=choices)


def mean_ci95(values) -> tuple[float, float, float]:
    """(mean, low, high): the Student-t 95% interval of the mean (`numbaplay.report.stats.t_interval`);
    the mean alone for one value."""
    ci = t_interval(values, 0.95)
    return (ci.mean, ci.lo, ci.hi) if ci.n > 1 else (ci.mean, ci.mean, ci.mean)


@dataclass
class Sweep:
    """What a sweep searches and how; stored as sweep.json so that a continued sweep is the same one."""

    game: str
    preset: str
    base: dict
    params: list[Param]
    metric: str
    direction: str
    seeds: list[int]
    iterations: int
    sampler_seed: int

    def to_dict(self) -> dict:
        return {"game": self.game, "preset": self.preset, "base": self.base,
                "params": [p.to_dict() for p in self.params], "metric": self.metric,
                "direction": self.direction, "seeds": self.seeds, "iterations": self.iterations,
                "sampler_seed": self.sampler_seed}

    def config(self, values: dict, seed: int) -> TrainConfig:
        """The run's config: the base, the trial's values, this seed and the sweep's iterations."""
        return from_dict({**self.base, **values, "seed": seed, "iterations": self.iterations})


def make_sweep(base: TrainConfig, preset: str, params: list[Param], metric: str | None, seeds: list[int],
               iterations: int | None, sampler_seed: int) -> Sweep:
    game = base.game
    if not params:
        raise ConfigError("a sweep needs at least one --param")
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise ConfigError(f"--param names a key twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    metric = metric or DEFAULT_METRIC[game]
    if metric not in METRICS[game]:
        raise ConfigError(f"unknown metric {metric!r} for {game}; choose one of {', '.join(METRICS[game])}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError("--seeds must list distinct seeds")
    for s in seeds:  # the config's own seed range
        base.replace(seed=s)
    if not 0 <= sampler_seed <= 2**32 - 1:
        raise ConfigError(f"--sampler-seed {sampler_seed} is out of range [0, 2**32 - 1]")
    sweep = Sweep(game, preset, base.to_dict(), params, metric, METRICS[game][metric], list(seeds),
                  iterations or base.iterations, sampler_seed)
    for p in params:
        if p.name == "games_per_iter" and p.choices is None:  # a range would let the sampler pick odd counts
            raise ConfigError("--param games_per_iter must list even values (e.g. games_per_iter=256,512,1024), "
                              "not a range")
    for p in params:  # every end of every range and every choice must make a valid config
        for value in (p.choices if p.choices is not None else (p.low, p.high)):
            if _TYPES[p.name] == "int":
                value = int(value)
            sweep.config({p.name: value}, seeds[0])
    return sweep


def open_sweep(out: Path, sweep: Sweep) -> None:
    """Create the sweep folder, or check that an existing one holds this same sweep (never overwritten)."""
    out = Path(out)
    settings = out / SETTINGS_FILE
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"output path {str(out)!r} exists and is not a folder")
    if settings.exists():
        try:
            stored = json.loads(settings.read_text())
        except ValueError:
            raise OutputDirError(f"{settings} is not a sweep settings file") from None
        if stored != json.loads(json.dumps(sweep.to_dict())):
            raise OutputDirError(f"{str(out)!r} holds a different sweep (its {SETTINGS_FILE} differs); "
                                 "choose another --out")
        return
    if out.exists() and any(out.iterdir()):
        raise OutputDirError(f"output folder {str(out)!r} is not empty and holds no sweep; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps(sweep.to_dict(), indent=2) + "\n")


def _study(out: Path, sweep: Sweep):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # library code never prints
    db = (Path(out) / "study.db").resolve()
    try:
        study = optuna.create_study(study_name=STUDY_NAME, storage=f"sqlite:///{db}", direction=sweep.direction,
                                    load_if_exists=True)
    except Exception as exc:  # a damaged file, a folder in its place, another program's database
        raise OutputDirError(f"{str(db)!r} is not a readable Optuna study ({type(exc).__name__}); choose "
                             "another --out") from None
    # Seeded by the trials already held, so a continued sweep proposes new points, not its first ones again.
    study.sampler = optuna.samplers.TPESampler(seed=sweep.sampler_seed + len(study.trials))
    return study


class SweepDataError(NumbaplayError, ValueError):
    """A sweep folder file that cannot be read as what it should hold (names the file and line)."""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def finished_trials(out: Path) -> list[dict]:
    """The rows of trials.jsonl, each checked (trial number, parameters, per-seed values, mean, interval);
    SweepDataError naming the file and line of the first bad one."""
    path = Path(out) / TRIALS_FILE
    if not path.exists():
        return []
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise SweepDataError(f"{path}:{i} is not JSON") from None
        ok = (isinstance(row, dict) and isinstance(row.get("trial"), int) and isinstance(row.get("params"), dict)
              and isinstance(row.get("values"), dict) and all(map(_is_number, row["values"].values()))
              and _is_number(row.get("mean")) and isinstance(row.get("ci95"), list) and len(row["ci95"]) == 2
              and all(map(_is_number, row["ci95"])))
        if not ok:
            raise SweepDataError(f"{path}:{i} is not a trial record (trial, params, values, mean, ci95)")
        rows.append(row)
    return rows


@contextlib.contextmanager
def _exclusive(out: Path):
    """Hold the sweep folder's lock file for the block; OutputDirError if another process holds it. A
    second sweep on the same folder would mark the first one's running trial failed and interleave rows."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no flock (Windows): one process per sweep folder, unchecked
        yield
        return
    with open(out / LOCK_FILE, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OutputDirError(f"another numbaplay sweep is running in {str(out)!r}; wait for it or choose "
                                 "another --out") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_sweep(out: Path, sweep: Sweep, trials: int, *, on_run=None, on_iteration=None) -> dict:
    """Run trials until the sweep holds `trials` finished ones; returns best.json's content.

    on_run(done_runs, total_runs, info) is called after every training run (info: trial number, seed,
    value, best so far); on_iteration(metrics) after every training iteration of every run. Only one
    process at a time runs a sweep folder (`_exclusive`).
    """
    out = Path(out)
    with _exclusive(out):
        return _run_trials(out, sweep, trials, on_run, on_iteration)


def _run_trials(out: Path, sweep: Sweep, trials: int, on_run, on_iteration) -> dict:
    import optuna

    from numbaplay.runs import run_training

    finished_trials(out)  # a damaged trials.jsonl stops the sweep before the study is touched
    study = _study(out, sweep)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    for t in study.trials:  # a trial interrupted mid-way is marked failed; its runs are left on disk
        if t.state == optuna.trial.TrialState.RUNNING:
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    todo = max(0, trials - len(done))
    total_runs = todo * len(sweep.seeds)
    runs = 0
    best = _best(out, sweep)
    for _ in range(todo):
        trial = study.ask()
        values = {p.name: p.suggest(trial) for p in sweep.params}
        scores, start = [], time.perf_counter()
        for seed in sweep.seeds:
            cfg = sweep.config(values, seed)
            summary = run_training(cfg, out / f"trial-{trial.number:04d}" / f"seed-{seed}", preset=sweep.preset,
                                   on_iteration=on_iteration)
            value = summary["final_eval"].get(sweep.metric)
            if value is None or not math.isfinite(float(value)):
                raise ConfigError(f"metric {sweep.metric!r} is missing from the final evaluation")
            scores.append(float(value))
            runs += 1
            if on_run is not None:
                on_run(runs, total_runs, {"trial": trial.number, "seed": seed, "value": float(value),
                                          "best": None if best is None else best["mean"]})
        mean, lo, hi = mean_ci95(scores)
        study.tell(trial, mean)
        row = {"trial": trial.number, "params": values, "values": dict(zip(map(str, sweep.seeds), scores)),
               "mean": mean, "ci95": [lo, hi], "wall_s": time.perf_counter() - start}
        with open(out / TRIALS_FILE, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        best = _best(out, sweep)
    return best


def _best(out: Path, sweep: Sweep) -> dict | None:
    """The best finished trial (ties: the earlier one), written to best.json with its whole config."""
    rows = finished_trials(out)
    if not rows:
        return None
    from numbaplay.report.sweep import ranked

    row = ranked({"direction": sweep.direction}, rows)[0]
    best = {**row, "metric": sweep.metric, "direction": sweep.direction, "trials": len(rows),
            "config": {k: v for k, v in sweep.config(row["params"], sweep.seeds[0]).to_dict().items()
                       if k != "seed"}}
    (Path(out) / BEST_FILE).write_text(json.dumps(best, indent=2) + "\n")
    return best
