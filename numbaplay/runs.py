"""Running a training job into an output folder: config.json, metrics.jsonl, checkpoints, summary.

Used by `numbaplay train`, the benchmarks and the sweeps; it never prints. Progress is reported
through an optional callback `on_iteration(metrics)`.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from numbaplay import checkpoint
from numbaplay.agent import Agent
from numbaplay.config import TrainConfig
from numbaplay.errors import ConfigError, NumbaplayError
from numbaplay.eval.evaluate import evaluate_agent
from numbaplay.nn.blas import kernel_blas, kernel_blas_info
from numbaplay.ppo.trainer import Trainer
from numbaplay.sysinfo import cpu_model, git_state


class OutputDirError(NumbaplayError):
    """The output folder cannot be used."""


def prepare_out_dir(out: Path, resume: bool = False) -> None:
    """Create `out` (and checkpoints/) or refuse: never overwrite an earlier run."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"output path {str(out)!r} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not resume:
        raise OutputDirError(f"output folder {str(out)!r} is not empty; choose another --out "
                             "(numbaplay never overwrites a run)")
    try:
        (out / "checkpoints").mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise OutputDirError(f"output folder {str(out)!r} is not writable ({exc.strerror})") from None


def machine_info() -> dict:
    import numba

    info = {"python": platform.python_version(), "numba": numba.__version__, "numpy": np.__version__,
            "machine": platform.machine(), "cpus": os.cpu_count(), "numba_threads": numba.get_num_threads()}
    info["cpu"] = cpu_model()
    info["kernel_blas"] = kernel_blas()
    info["kernel_blas_version"] = kernel_blas_info()["version"]
    root = Path(__file__).resolve().parents[1]
    if (root / ".git").exists():  # a checkout, not an installed copy: the code a timing belongs to
        state = git_state(root, short=True)
        modified = state["modified"]
        info["git"] = {"commit": state["commit"],
                       "modified_code": None if modified is None else [f for f in modified
                                                                       if not f.startswith("results/")]}
    return info


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(type(value))


def provably_optimal(result: dict) -> bool:
    """The --until-optimal test, `numbaplay.eval.tictactoe_exact.provably_optimal` (the same test makes
    the evaluator's `optimal`)."""
    from numbaplay.eval.tictactoe_exact import provably_optimal as test

    return test(result)


def run_training(cfg: TrainConfig, out: Path, *, until_optimal: bool = False, preset: str | None = None,
                 on_iteration=None, max_iterations: int | None = None, blas_threads: int = 1,
                 on_compile=None) -> dict:
    """Train `cfg` into `out`; returns the summary dict (also written to summary.json).

    BLAS runs with `blas_threads` threads (default 1: the GEMMs of these small networks lose more to
    thread hand-offs than they gain, and results then do not depend on the core count). `on_compile()`
    is called once, before the first iteration, if the kernels are not in Numba's cache yet.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(blas_threads, user_api="blas"):  # the kernels' BLAS is loaded (nn.blas import)
        return _run_training(cfg, out, until_optimal, preset, on_iteration, max_iterations, on_compile)


# latest.npz is rewritten at an evaluation once this many seconds have passed since the last save (and
# always at the end): saving at every evaluation cost ~4 ms each, 4% of a Tic-Tac-Toe run.
CHECKPOINT_EVERY_S = 10.0


def _run_training(cfg, out, until_optimal, preset, on_iteration, max_iterations, on_compile):
    out = Path(out)
    if until_optimal and cfg.game != "tictactoe":
        raise ConfigError("--until-optimal needs an exact optimality test; it exists for tictactoe only")
    try:  # before the folder is made: a configuration too large for memory leaves nothing on disk
        trainer = Trainer(cfg)
    except MemoryError:
        raise ConfigError("not enough memory for this configuration's buffers (hidden, depth, games_per_iter, "
                          "batch_size)") from None
    prepare_out_dir(out)
    (out / "config.json").write_text(json.dumps({**cfg.to_dict(), "preset": preset}, indent=2) + "\n")
    if trainer.compile_update_in_background().needed and on_compile is not None:
        on_compile()
    n_iter = cfg.iterations if max_iterations is None else max_iterations
    start = time.perf_counter()
    last_save = start
    stopped = "iterations"
    final_eval = None
    reached = None
    with open(out / "metrics.jsonl", "w") as log:
        for i in range(n_iter):
            metrics = trainer.step()
            last = i == n_iter - 1
            if (cfg.eval_every and (i + 1) % cfg.eval_every == 0) or last:
                t0 = time.perf_counter()
                result = evaluate_agent(Agent(cfg.game, trainer.spec, trainer.params, trainer.iteration),
                                        quick=not last, seed=cfg.seed)
                metrics["time/eval_s"] = time.perf_counter() - t0
                metrics.update({f"eval/{k}": v for k, v in result.items()})
                final_eval = result
                if time.perf_counter() - last_save >= CHECKPOINT_EVERY_S:  # a crash loses at most this much
                    checkpoint.save(out / "checkpoints" / "latest.npz", **trainer.state_dict())
                    last_save = time.perf_counter()
                if until_optimal and provably_optimal(result):
                    reached = metrics["iteration"]
                    stopped = "until-optimal"
            metrics["time/elapsed_s"] = time.perf_counter() - start
            log.write(json.dumps(metrics, default=_json_default) + "\n")
            log.flush()
            if on_iteration is not None:
                on_iteration(metrics)
            if stopped == "until-optimal":
                break
    wall = time.perf_counter() - start
    state = trainer.state_dict()
    checkpoint.save(out / "checkpoints" / "latest.npz", **state)
    checkpoint.save(out / "checkpoints" / "final.npz", **state)
    if final_eval is None or metrics.get("time/eval_s") is None:
        final_eval = evaluate_agent(Agent(cfg.game, trainer.spec, trainer.params, trainer.iteration),
                                    seed=cfg.seed)
    summary = {"iterations_run": trainer.iteration, "wall_time_s": wall, "stopped_reason": stopped,
               "reached_optimal_at": reached, "final_eval": final_eval, "machine": machine_info()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    return summary
