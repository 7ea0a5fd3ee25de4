"""Named configurations. Every preset lists every key of TrainConfig."""
from __future__ import annotations

from numbaplay.config import TrainConfig, from_dict
from numbaplay.errors import ConfigError

PRESETS: dict[str, dict] = {
    # The default for Tic-Tac-Toe: tuned for reaching provably optimal play fast and reliably. 3 epochs at lr
    # 3e-3 (4 at 2e-3 until session 17), chosen among 16 settings on seeds 0-4; on seeds 5-14 it proved
    # optimal play at iteration 213 on average (at most 233) against 224 (349), with 0.71x the update's rows
    # (results/ttt_preset_tuning/).
    "tictactoe": dict(
        game="tictactoe", arch="mlp", hidden=128, depth=3, iterations=600, games_per_iter=2048,
        batch_size=1024, epochs=3, update_shards=2, lr=3e-3, lr_min=5e-4, lr_schedule="cosine", gamma=1.0,
        gae_lambda=1.0, clip_eps=0.2, vf_coef=0.5, ent_coef=0.01, ent_coef_min=0.0,
        ent_schedule="cosine", max_grad_norm=0.5, opp_temperature=1.5, draw_reward=0.5,
        random_opening_plies=4, pool_size=10, snapshot_interval=5, seed=0, eval_every=2),
    # The reference study's tuned Tic-Tac-Toe setting, kept for speed comparisons.
    "ttt-seed": dict(
        game="tictactoe", arch="mlp", hidden=256, depth=4, iterations=500, games_per_iter=512,
        batch_size=64, epochs=4, update_shards=2, lr=3e-3, lr_min=0.0, lr_schedule="constant", gamma=0.99,
        gae_lambda=0.95, clip_eps=0.1, vf_coef=0.5, ent_coef=0.05, ent_coef_min=0.0,
        ent_schedule="constant", max_grad_norm=0.5, opp_temperature=1.0, draw_reward=0.5,
        random_opening_plies=0, pool_size=20,
        snapshot_interval=25, seed=0, eval_every=25),
    # The Connect Four default: about a minute on 2 cores. 1,024 games an iteration (512 until session 14):
    # twice the minibatch steps on twice the games rated clearly higher over 5 seeds each
    # (results/connect4_preset_comparison.json, scripts/c4_study.py).
    "connect4": dict(
        game="connect4", arch="resmlp", hidden=128, depth=4, iterations=300, games_per_iter=1024,
        batch_size=256, epochs=4, update_shards=2, lr=1e-3, lr_min=1e-4, lr_schedule="cosine", gamma=0.99,
        gae_lambda=0.95, clip_eps=0.2, vf_coef=0.5, ent_coef=0.005, ent_coef_min=0.0,
        ent_schedule="cosine", max_grad_norm=0.5, opp_temperature=1.0, draw_reward=0.0,
        random_opening_plies=4, pool_size=20,
        snapshot_interval=10, seed=0, eval_every=25),
    # The reference study's best Connect Four setting.
    "c4-seed": dict(
        game="connect4", arch="resmlp", hidden=256, depth=6, iterations=1000, games_per_iter=2048,
        batch_size=256, epochs=4, update_shards=2, lr=3e-4, lr_min=0.0, lr_schedule="constant", gamma=0.99,
        gae_lambda=0.95, clip_eps=0.2, vf_coef=0.5, ent_coef=0.001, ent_coef_min=0.0,
        ent_schedule="constant", max_grad_norm=0.5, opp_temperature=1.5, draw_reward=0.0,
        random_opening_plies=0, pool_size=50,
        snapshot_interval=25, seed=0, eval_every=50),
}

DEFAULT_PRESET = {"tictactoe": "tictactoe", "connect4": "connect4"}


def preset(name: str) -> TrainConfig:
    """The preset called `name`; ConfigError naming the known presets otherwise."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return from_dict(PRESETS[name])
