"""Try Tic-Tac-Toe configurations for the default preset: iterations and seconds to optimal play.

    python scripts/tune_ttt.py --seeds 0 1 2 --set ent_coef=0.05 --set draw_reward=0.5
"""
import argparse
import json
import shutil
import tempfile
import time

from numbaplay.presets import preset
from numbaplay.runs import run_training


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tictactoe")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--set", action="append", default=[], help="key=value override (JSON value)")
    args = ap.parse_args()
    over = {}
    for item in args.set:
        k, v = item.split("=", 1)
        over[k] = json.loads(v)
    cfg0 = preset(args.preset).replace(**over)
    rows = []
    for seed in args.seeds:
        out = tempfile.mkdtemp()
        shutil.rmtree(out)
        t = time.perf_counter()
        s = run_training(cfg0.replace(seed=seed), out, until_optimal=True)
        ev = s["final_eval"]
        rows.append((seed, s["reached_optimal_at"], round(time.perf_counter() - t, 1),
                     ev["exploitability_greedy"], round(ev["exploitability_sampled"], 4),
                     round(ev["optimal_move_rate"], 4)))
        shutil.rmtree(out)
    print(json.dumps(over), rows, flush=True)


if __name__ == "__main__":
    main()
