"""End to end: the default Tic-Tac-Toe preset reaches provably optimal play for a fixed seed."""
import json

import numpy as np

from numbaplay import checkpoint
from numbaplay.agent import load_agent
from numbaplay.eval.tictactoe_exact import evaluate_tictactoe
from numbaplay.presets import preset
from numbaplay.runs import provably_optimal, run_training

SEED = 0  # see results/ttt_optimal/README.md for how many iterations each seed needs


def test_default_preset_reaches_optimal_play(tmp_path):
    cfg = preset("tictactoe").replace(seed=SEED)
    summary = run_training(cfg, tmp_path / "run", until_optimal=True, preset="tictactoe")
    assert summary["stopped_reason"] == "until-optimal"
    ev = summary["final_eval"]
    assert ev["exploitability_greedy"] == 0.0
    assert ev["exploitability_sampled"] < 0.01
    assert ev["optimal_move_rate"] == 1.0
    # The saved checkpoint is the agent that was measured: evaluate it again from disk.
    agent = load_agent(tmp_path / "run" / "checkpoints" / "final.npz")
    again = evaluate_tictactoe(agent.logits_fn)
    assert provably_optimal(again)
    assert again["exploitability_sampled"] == ev["exploitability_sampled"]
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["iteration"] == summary["reached_optimal_at"]
    assert provably_optimal({k[5:]: v for k, v in lines[-1].items() if k.startswith("eval/")})
    ck = checkpoint.load(tmp_path / "run" / "checkpoints" / "final.npz")
    np.testing.assert_array_equal(ck["params"], agent.params)


def test_every_preset_lists_every_config_key():
    """The README says so: a preset is a whole configuration, not a set of overrides."""
    from dataclasses import fields

    from numbaplay.config import TrainConfig
    from numbaplay.presets import PRESETS
    keys = {f.name for f in fields(TrainConfig)}
    for name, values in PRESETS.items():
        assert set(values) == keys, (name, keys ^ set(values))
