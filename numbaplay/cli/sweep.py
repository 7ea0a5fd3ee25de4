"""`numbaplay sweep GAME`: search hyperparameters with Optuna, several seeds per trial."""
from __future__ import annotations

import time
from pathlib import Path

import click

from numbaplay.cli.common import Progress, fail, guarded
from numbaplay.cli.train import build_config, set_threads


@click.command()
@click.argument("game")
@click.option("--preset", "preset_name", default=None, help="Base configuration (default: the game's own).")
@click.option("--config", "config_file", default=None, help="TOML or JSON file of base config keys.")
@click.option("--param", "params", multiple=True, metavar="NAME=LOW:HIGH[:log] | NAME=A,B,...",
              help="A config key to search: a numeric range (log scale with :log) or a list of choices. "
                   "Repeat for several keys.")
@click.option("--trials", type=click.IntRange(1), default=20, show_default=True,
              help="Finished trials the sweep should hold (an existing sweep is continued up to this).")
@click.option("--seeds", default="0,1", show_default=True,
              help="Comma-separated training seeds per trial; the trial's value is their mean.")
@click.option("--iterations", type=click.IntRange(1), default=None,
              help="Training iterations per run (default: the base config's).")
@click.option("--metric", default=None,
              help="Final-evaluation metric to optimise (tictactoe: exploitability_sampled, "
                   "exploitability_greedy, optimal_move_rate; connect4: elo, mistakes/<set>/rate).")
@click.option("--sampler-seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="Seed of the TPE sampler.")
@click.option("--out", "out_dir", default=None, help="Sweep folder (new, or an earlier sweep to continue).")
@click.option("--threads", type=int, default=None, help="Numba threads (results do not depend on it).")
@click.option("--no-report", is_flag=True, help="Skip the PDF sweep report (report.pdf in the sweep folder).")
@guarded
def sweep(game, preset_name, config_file, params, trials, seeds, iterations, metric, sampler_seed, out_dir,
          threads, no_report):
    """Search GAME's hyperparameters: TPE proposes configs, each trains on every seed, best mean wins."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        fail("numbaplay sweep needs Optuna: pip install 'numbaplay[sweep]' (or pip install optuna)")
    from numbaplay.errors import ConfigError
    from numbaplay.sweep import make_sweep, open_sweep, parse_param, run_sweep

    set_threads(threads)
    base, name = build_config(game, preset_name, config_file, {})
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {seeds!r}: expected comma-separated integers") from None
    spec = make_sweep(base, name, [parse_param(p) for p in params], metric, seed_list, iterations, sampler_seed)
    out = Path(out_dir) if out_dir else Path("runs") / f"sweep-{game}-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    open_sweep(out, spec)
    # The bar counts training iterations over the runs still to do, so that long runs show progress too.
    bar = Progress(trials * len(spec.seeds) * spec.iterations, label="sweep")
    shown = {}
    state = {"runs_done": 0}

    def on_run(done, total, info):
        bar.total = max(total * spec.iterations, 1)
        state["runs_done"] = done
        shown.update({"trial": info["trial"], "seed": info["seed"], spec.metric: info["value"]})
        if info["best"] is not None:
            shown["best"] = info["best"]
        bar.update(done * spec.iterations, dict(shown), force=True)

    def on_iteration(metrics):
        bar.update(state["runs_done"] * spec.iterations + metrics["iteration"] + 1, dict(shown))

    best = run_sweep(out, spec, trials, on_run=on_run, on_iteration=on_iteration)
    bar.close()
    if best is None:
        fail("the sweep finished no trial")
    lo, hi = best["ci95"]
    spread = (f"95% CI {lo:.4g} to {hi:.4g} over seeds {', '.join(best['values'])}" if len(best["values"]) > 1
              else f"one seed ({next(iter(best['values']))}), no interval")
    click.echo(f"{best['trials']} trials in {out}; best: trial {best['trial']}, {spec.metric} "
               f"{best['mean']:.4g} ({spread})")
    for key, value in best["params"].items():
        click.echo(f"  {key} = {value}")
    click.echo(f"best config: {out / 'best.json'}")
    if not no_report:
        from numbaplay.report.sweep import write_sweep_report

        click.echo(f"report: {write_sweep_report(out, out / 'report.pdf')}")
