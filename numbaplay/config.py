"""Training configuration: one frozen dataclass, presets that list every key, and loading from files.

Names are the same from CLI flag to config field to metrics key to report table.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from numbaplay.errors import ConfigError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    tomllib = None


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of a self-play PPO run (SPEC sections 3, 5, 6)."""

    game: str = "tictactoe"
    """Game to learn: tictactoe or connect4."""
    arch: str = "mlp"
    """Network architecture: mlp or resmlp."""
    hidden: int = 64
    """Width H of the hidden layers."""
    depth: int = 2
    """Number L of hidden layers (mlp) or input + residual layers (resmlp)."""
    iterations: int = 200
    """Iterations I the run is configured for (the cosine schedules use it)."""
    games_per_iter: int = 256
    """Self-play games G per iteration (even)."""
    batch_size: int = 256
    """Target minibatch size; the buffer is cut into ceil(N / batch_size) nearly equal batches."""
    epochs: int = 4
    """Passes over the iteration's transitions."""
    update_shards: int = 2
    """Most row shards per update minibatch (each at least 24 rows): the update's parallel work units, each
    with its own gradient buffer. Fixed here, never by the thread count, so results do not depend on the
    threads; more shards let more cores share the update at some cost per step (2 suits 2 cores). The
    unit-half step of small mlps (docs/ALGORITHM.md) always runs two."""
    lr: float = 3e-3
    """Adam learning rate (the peak, for cosine)."""
    lr_min: float = 0.0
    """Final learning rate of the cosine schedule."""
    lr_schedule: str = "constant"
    """constant or cosine."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_eps: float = 0.2
    """PPO ratio clip epsilon."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient (the peak, for cosine)."""
    ent_coef_min: float = 0.0
    """Final entropy coefficient of the cosine schedule."""
    ent_schedule: str = "constant"
    """constant or cosine."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip; 0 disables clipping."""
    opp_temperature: float = 1.0
    """Sampling temperature of pool opponents (0 = greedy)."""
    draw_reward: float = 0.0
    """Learner's reward for a draw."""
    random_opening_plies: int = 0
    """Curriculum: each game starts after 0..this many random plies that do not end it (0 = off)."""
    pool_size: int = 10
    """Most snapshots kept in the opponent pool (entry 0, the initial parameters, always stays)."""
    snapshot_interval: int = 5
    """Append the learner to the pool after every this many iterations."""
    seed: int = 0
    """Seed of every random stream of the run."""
    eval_every: int = 5
    """Evaluate every this many iterations (0 = only at the end)."""

    def __post_init__(self):
        validate(self)

    def to_dict(self) -> dict:
        return asdict(self)

    def replace(self, **changes) -> TrainConfig:
        data = self.to_dict()
        data.update(changes)
        return from_dict(data)


MAX_ITERATIONS = 10**7
"""The largest `iterations` a run may have."""
MAX_SEED = 2**63 - 1
"""The largest seed (the RNG streams take a non-negative int64); every --seed option uses this bound."""

_INT_RANGES = {
    "hidden": (1, 4096), "depth": (1, 64), "iterations": (1, MAX_ITERATIONS), "games_per_iter": (2, 10**6),
    "batch_size": (1, 10**7), "epochs": (1, 1000), "update_shards": (1, 64), "pool_size": (2, 10**4),
    "snapshot_interval": (1, 10**7), "random_opening_plies": (0, 40), "seed": (0, MAX_SEED), "eval_every": (0, 10**7),
}
_FLOAT_RANGES = {
    "lr": (0.0, 10.0), "lr_min": (0.0, 10.0), "gamma": (0.0, 1.0), "gae_lambda": (0.0, 1.0),
    "clip_eps": (1e-6, 10.0), "vf_coef": (0.0, 1e3), "ent_coef": (0.0, 1e3), "ent_coef_min": (0.0, 1e3),
    "max_grad_norm": (0.0, 1e6), "opp_temperature": (0.0, 100.0), "draw_reward": (-1.0, 1.0),
}
_CHOICES = {"game": ("tictactoe", "connect4"), "arch": ("mlp", "resmlp"),
            "lr_schedule": ("constant", "cosine"), "ent_schedule": ("constant", "cosine")}


def validate(cfg: TrainConfig) -> None:
    """ConfigError naming the first bad value."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in _INT_RANGES:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"config key {f.name!r} must be an integer, got {value!r}")
            lo, hi = _INT_RANGES[f.name]
            if not lo <= value <= hi:
                raise ConfigError(f"config key {f.name!r} must be in [{lo}, {hi}], got {value}")
        elif f.name in _FLOAT_RANGES:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"config key {f.name!r} must be a finite number, got {value!r}")
            lo, hi = _FLOAT_RANGES[f.name]
            if not lo <= value <= hi:
                raise ConfigError(f"config key {f.name!r} must be in [{lo}, {hi}], got {value}")
        elif f.name in _CHOICES and value not in _CHOICES[f.name]:
            raise ConfigError(f"config key {f.name!r} must be one of {', '.join(_CHOICES[f.name])}, "
                              f"got {value!r}")
    if cfg.games_per_iter % 2:
        raise ConfigError(f"config key 'games_per_iter' must be even, got {cfg.games_per_iter}")


def from_dict(data: dict) -> TrainConfig:
    """A TrainConfig from a mapping; unknown keys and bad types are a ConfigError."""
    known = {f.name: f for f in fields(TrainConfig)}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown config key {key!r}")
    clean = {}
    for key, value in data.items():
        default = known[key].default
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:  # an integer of hundreds of digits
                raise ConfigError(f"config key {key!r} must be a finite number, got an integer of "
                                  f"{len(str(abs(value)))} digits") from None
        clean[key] = value
    return TrainConfig(**clean)


def load_config_file(path: str | Path) -> dict:
    """Keys from a TOML or JSON file (by extension), as a plain dict."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid {path.suffix.lstrip('.') or 'JSON'}: "
                          f"{str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a table of keys")
    return data


def schedule(i: int, peak: float, final: float, iterations: int, kind: str) -> float:
    """Value of a constant or cosine schedule at iteration i (SPEC section 6)."""
    if kind == "constant":
        return peak
    frac = min(i, iterations - 1) / max(iterations - 1, 1)
    return final + (peak - final) * (1.0 + math.cos(math.pi * frac)) / 2.0
