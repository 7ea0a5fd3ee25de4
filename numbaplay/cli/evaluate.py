"""`numbaplay eval CHECKPOINT`: exact (Tic-Tac-Toe) or ladder/solver (Connect Four) strength."""
from __future__ import annotations

import json

import click

from numbaplay.cli.common import guarded
from numbaplay.config import MAX_SEED


@click.command("eval")
@click.argument("checkpoint_path", metavar="CHECKPOINT")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, help="Seed of the evaluation's random streams.")
@guarded
def eval_cmd(checkpoint_path, as_json, seed):
    """Measure the agent in CHECKPOINT."""
    from numbaplay.agent import load_agent
    from numbaplay.eval.evaluate import evaluate_agent

    agent = load_agent(checkpoint_path)
    result = evaluate_agent(agent, seed=seed)
    if as_json:
        click.echo(json.dumps({"game": agent.game, "iteration": agent.iteration, **result}))
        return
    click.echo(f"{agent.game} agent from {checkpoint_path} (iteration {agent.iteration})")
    width = max(len(k) for k in result)
    for key, value in result.items():
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
        click.echo(f"  {key:<{width}}  {text}")
