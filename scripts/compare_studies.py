"""Two `scripts/c4_study.py` studies compared: the difference of their mean Elo with a Welch interval.

Each study's seeds are independent runs, so the difference B - A of the means gets a two-sided 95%
Welch t interval (Welch-Satterthwaite degrees of freedom), for the final Elo and for the stable Elo
(each seed's mean of its last five evaluations), and for the training wall time.

    python scripts/compare_studies.py results/connect4_default results/connect4_preset_1024games \
        --out results/connect4_preset_comparison.json
"""
import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy import stats


def welch(a, b, confidence=0.95) -> dict:
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * math.sqrt(va + vb)
    diff = float(b.mean() - a.mean())
    return {"mean_a": float(a.mean()), "mean_b": float(b.mean()), "difference": diff, "lo": diff - half,
            "hi": diff + half, "df": float(df), "n_a": int(a.size), "n_b": int(b.size)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    sa, sb = (json.loads((Path(p) / "summary.json").read_text()) for p in (args.a, args.b))
    out = {"command": f"python scripts/compare_studies.py {args.a} {args.b} --out {args.out}", "a": args.a,
           "b": args.b, "a_command": sa["command"], "b_command": sb["command"]}
    for key in ("elo", "stable_elo", "train_wall_s"):
        out[key] = welch([r[key] for r in sa["runs"]], [r[key] for r in sb["runs"]])
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    for key in ("elo", "stable_elo", "train_wall_s"):
        w = out[key]
        print(f"{key}: {w['mean_a']:.1f} -> {w['mean_b']:.1f}, difference {w['difference']:+.1f} "
              f"(95% Welch interval {w['lo']:+.1f} to {w['hi']:+.1f}, df {w['df']:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
