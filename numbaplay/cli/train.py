"""`numbaplay train GAME`: build a config from preset, file and flags, train, evaluate, report."""
from __future__ import annotations

import time
from pathlib import Path

import click

from numbaplay.cli.common import Progress, fail, guarded
from numbaplay.config import MAX_SEED


def set_threads(threads: int | None) -> None:
    """Set Numba's thread count, refusing values outside what the machine allows."""
    import numba

    if threads is None:
        return
    limit = numba.config.NUMBA_NUM_THREADS
    if not 1 <= threads <= limit:
        fail(f"--threads must be between 1 and {limit} on this machine, got {threads}")
    numba.set_num_threads(threads)


def build_config(game: str, preset_name: str | None, config_file: str | None, overrides: dict):
    from numbaplay.config import from_dict, load_config_file
    from numbaplay.errors import ConfigError
    from numbaplay.games import get_game
    from numbaplay.presets import DEFAULT_PRESET, preset

    get_game(game)
    name = preset_name or DEFAULT_PRESET[game]
    base = preset(name).to_dict()
    if base["game"] != game:
        raise ConfigError(f"preset {name!r} is for {base['game']}, not {game}")
    if config_file:
        base.update(load_config_file(config_file))
    base.update({k: v for k, v in overrides.items() if v is not None})
    if base.get("game") != game:
        raise ConfigError(f"config sets game {base.get('game')!r} but the command trains {game}")
    return from_dict(base), name


@click.command()
@click.argument("game")
@click.option("--preset", "preset_name", default=None, help="Named configuration (default: the game's own).")
@click.option("--config", "config_file", default=None, help="TOML or JSON file of config keys to override.")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=None, help="Seed of every random stream of the run.")
@click.option("--iterations", type=click.IntRange(1), default=None,
              help="Iterations to run (also the length of cosine schedules).")
@click.option("--out", "out_dir", default=None, help="Output folder (must not exist or be empty).")
@click.option("--threads", type=int, default=None, help="Numba threads (results do not depend on it).")
@click.option("--eval-every", type=click.IntRange(0), default=None,
              help="Evaluate every this many iterations (0 = only at the end).")
@click.option("--until-optimal", is_flag=True,
              help="Stop at the first evaluation that proves optimal play: greedy exploitability 0, sampled "
                   "exploitability below 0.01 and optimal-move rate 100% (tictactoe).")
@click.option("--no-report", is_flag=True, help="Skip the PDF training report.")
@guarded
def train(game, preset_name, config_file, seed, iterations, out_dir, threads, eval_every, until_optimal,
          no_report):
    """Train GAME (tictactoe or connect4) by PPO self-play against a pool of past snapshots."""
    set_threads(threads)
    cfg, name = build_config(game, preset_name, config_file,
                             {"seed": seed, "iterations": iterations, "eval_every": eval_every})
    from numbaplay.runs import run_training

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(out_dir) if out_dir else Path("runs") / f"{game}-{name}-seed{cfg.seed}-{stamp}"
    bar = Progress(cfg.iterations, label="train")
    shown = {}

    def on_iteration(m):
        shown["win"] = m["charts/learner_win"]
        if m["loss/entropy"] is not None:  # None in an iteration without learner moves
            shown["ent"] = m["loss/entropy"]
        for key in ("eval/exploitability_greedy", "eval/exploitability_sampled", "eval/elo"):
            if m.get(key) is not None:
                shown[key.split("/", 1)[1]] = m[key]
        bar.update(m["iteration"] + 1, dict(shown))

    def on_compile():
        click.echo("compiling the Numba kernels (a first run only: they are cached for later runs)", err=True)

    summary = run_training(cfg, out, until_optimal=until_optimal, preset=name, on_iteration=on_iteration,
                           on_compile=on_compile)
    bar.close()
    report_path = None
    if not no_report:
        try:
            from numbaplay.report.training import write_training_report
        except ModuleNotFoundError:
            write_training_report = None
        if write_training_report is not None:
            report_path = write_training_report(out, out / "report.pdf")
    ev = summary["final_eval"]
    click.echo(f"trained {cfg.game} ({name}, seed {cfg.seed}) for {summary['iterations_run']} iterations "
               f"in {summary['wall_time_s']:.1f} s; stopped: {summary['stopped_reason']}")
    for key in ("exploitability_greedy", "exploitability_sampled", "optimal_move_rate", "elo"):
        if key in ev:
            click.echo(f"  {key}: {ev[key]}")
    click.echo(f"  run folder: {out}")
    if report_path:
        click.echo(f"  report: {report_path}")
