"""A/B of one training phase in one process: the package at a git revision against the working tree.

Alternating runs in separate processes drift with the machine (other jobs share it) by more than the
1-3% a kernel change is worth. This script loads both versions of the package side by side in one process
(copies renamed `numbaplay_old` and `numbaplay_new`, with their own empty Numba cache), builds one
`Trainer` of each for the preset, plays one rollout with each and then times the phase from the same
saved state, alternating the order every round. It checks that both versions produce the same parameters
(update) or the same moves (rollout), and prints the paired ratio new / old.

    python scripts/ab_inprocess.py --preset c4-seed --phase update --rounds 12
    python scripts/ab_inprocess.py --old HEAD~1 --preset tictactoe --phase rollout --rounds 30 --threads 1
    python scripts/ab_inprocess.py --preset ttt-seed --phase rollout --rounds 30 --full-pool
"""
import argparse
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def renamed_copy(src: Path, dest: Path, name: str) -> None:
    """Copy the package tree src to dest/name, with every `numbaplay` import pointing at `name`."""
    shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    for path in (dest / name).rglob("*.py"):
        text = path.read_text()
        path.write_text(re.sub(r"\bnumbaplay(?=[.\s])", name, text))


def tree_at(rev: str, dest: Path) -> Path:
    """`numbaplay/` as committed at rev, extracted as dest/numbaplay; returns dest."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "numbaplay"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def package_at(rev: str, dest: Path, name: str) -> None:
    """`numbaplay/` as committed at rev, as dest/name."""
    renamed_copy(tree_at(rev, dest / f"{name}_src") / "numbaplay", dest, name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", default="HEAD", help="Git revision of the old side (default HEAD).")
    ap.add_argument("--preset", default="c4-seed")
    ap.add_argument("--phase", choices=("update", "rollout"), default="update")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--full-pool", action="store_true",
                    help="Fill both trainers' pools to pool_size entries first, as late in training (the initial "
                         "parameters plus seeded N(0, 1e-3^2) noise per entry, as bench_iteration.py --pool).")
    ap.add_argument("--out", default=None, help="Also write the result as JSON here.")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ab-inprocess-"))
    try:
        package_at(args.old, work, "numbaplay_old")
        renamed_copy(ROOT / "numbaplay", work, "numbaplay_new")
        os.environ["NUMBA_CACHE_DIR"] = str(work / "numba-cache")
        os.environ.setdefault("NUMBAPLAY_C4_DATA", str(ROOT.parent / "shared" / "data" / "connect4"))
        sys.path.insert(0, str(work))
        return run(args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args) -> int:
    import numba
    import numpy as np

    importlib.import_module("numbaplay_new.omp").use_short_spin()
    numba.set_num_threads(args.threads)
    trainers = []
    for name in ("numbaplay_old", "numbaplay_new"):
        cfg = importlib.import_module(f"{name}.presets").preset(args.preset)
        trainers.append(importlib.import_module(f"{name}.ppo.trainer").Trainer(cfg))
    counts, saved = [], []
    for tr in trainers:
        if args.full_pool:
            rng = np.random.default_rng(tr.cfg.pool_size)
            while len(tr.pool) < tr.cfg.pool_size:
                tr.pool.append(tr.params + rng.normal(0.0, 1e-3, tr.params.shape).astype(np.float32))
        n = tr.rollout()
        tr.advantages(n)
        counts.append(n)
        saved.append(({k: getattr(tr, k).copy() for k in ("params", "m", "v")}, tr.t))

    def once(i: int) -> float:
        tr = trainers[i]
        for k, value in saved[i][0].items():
            getattr(tr, k)[:] = value
        tr.t = saved[i][1]
        t0 = time.perf_counter()
        if args.phase == "update":
            tr.update(counts[i])
        else:
            tr.rollout()
        return time.perf_counter() - t0

    for i in (0, 1):  # JIT and warm-up
        once(i)
        once(i)
    same = (np.array_equal(trainers[0].params, trainers[1].params) if args.phase == "update"
            else np.array_equal(trainers[0].moves, trainers[1].moves))
    times = ([], [])
    for r in range(args.rounds):
        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
            times[i].append(once(i))
    old, new = np.array(times[0]), np.array(times[1])
    ratio = new / old
    result = {"preset": args.preset, "phase": args.phase, "old": args.old, "new": "working tree",
              "threads": args.threads, "pool_entries": len(trainers[1].pool), "rounds": args.rounds,
              "same_results": bool(same),
              "old_median_s": float(np.median(old)), "new_median_s": float(np.median(new)),
              "paired_ratio_median": float(np.median(ratio)), "paired_ratios": ratio.round(4).tolist(),
              "command": "python scripts/ab_inprocess.py " + " ".join(sys.argv[1:])}
    print(f"{args.preset} {args.phase}, {args.threads} thread(s), {len(trainers[1].pool)} pool entries: "
          f"old ({args.old}) {np.median(old) * 1e3:.1f} ms, "
          f"new {np.median(new) * 1e3:.1f} ms; paired new / old median {np.median(ratio):.4f} over "
          f"{args.rounds} rounds; same results: {same}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
