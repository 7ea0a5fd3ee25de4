"""Where the time of a training iteration goes: the fused kernels re-run as timed Python loops.

`rollout_kernel` and `ppo_epochs` (`ppo_epochs_mlp` for mlp) each run a whole phase in one compiled
call, so nothing inside them can be timed. `rollout_profiled` and `update_profiled` are the same step
loops written in Python around the same compiled pieces (`_gather`, `step_inference`, `move_rows`;
`gather`, `forward_pieces`, `ppo_head_rows`, then for resmlp `backward_shards`,
`combine_grad_norm`, `adam_step` and for mlp `unit_backward_shards`, `unit_grads_parts`,
`unit_adam_parts`), called in the same order on the same rows, so they produce bit-identical results
(tests/test_profile.py checks it, and `profile_training` checks it again on every iteration it
measures). A `Clock` attributes every instant of a loop to exactly one phase:

    rollout/inference   the forward passes of the learner and of the pool opponents
    rollout/game_logic  everything else of the rollout: scheduling, observations and masks, sampling,
                        moves, packing the transitions (and the Python loop itself)
    gae                 advantages, returns and their normalisation
    update/forward      `forward_pieces` on each minibatch's shards
    update/backward     the loss and dL/dlogits at the heads (`ppo_head_rows` per shard), then resmlp:
                        `backward_shards` (the fused kernel runs each shard's forward, head and backward
                        in one parallel region, `shard_steps`); mlp: the gradients at the layers per
                        shard and the weight gradients per unit half (`numbaplay.ppo.update`)
    update/adam         resmlp: summing the shard gradients with the gradient norm, clipping and the Adam
                        step; mlp: the norm from the unit halves' sums, clipping and Adam per half
    update/other        shuffling, gathering minibatch rows, the pool update, the Python loop

The Python loops add a little dispatch overhead per call; `profile_training` also times the fused
kernels on the same state, so the report shows both the real cost and the split.
"""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import get_num_threads, njit

from numbaplay.nn.adam import adam_step, combine_grad_norm
from numbaplay.nn.fpenv import flush_enter, flush_exit
from numbaplay.nn.net import backward_shards, forward_pieces
from numbaplay.nn.params import n_params
from numbaplay.nn.policy import head_stats, ppo_head_rows
from numbaplay.nn.rows import UNIT_PARTS, shard_cuts
from numbaplay.ppo.rollout import (
    _gather,
    choose_opponents,
    move_rows,
    pack_transitions,
    random_openings,
    rollout_kernel,
    schedule_step,
    step_inference,
    step_rows,
)
from numbaplay.ppo.trainer import Trainer, update_pool
from numbaplay.ppo.update import (
    STAT_NAMES,
    UNIT_STRIDE,
    gather,
    minibatch_bounds,
    ppo_epochs,
    ppo_epochs_mlp,
    unit_adam_parts,
    unit_backward_shards,
    unit_grads_parts,
    unit_halves,
    unit_norm,
)
from numbaplay.profile import flops
from numbaplay.profile.machine import (
    best_peaks,
    blas_limits,
    blas_threads_in_effect,
    core_peaks,
    machine_peaks,
    peak_at,
    uptime,
)
from numbaplay.rng import SHUFFLE, permutation, stream_key

PHASES = ("rollout/inference", "rollout/game_logic", "gae", "update/forward", "update/backward",
          "update/adam", "update/other")
EVALUATION = "evaluation"


class Clock:
    """Wall and process CPU time attributed to named phases: `lap(name)` charges the time since the last
    lap (or `restart`) to `name`."""

    def __init__(self):
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.restart()

    def restart(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.wall[name] += wall - self._wall
        self.cpu[name] += cpu - self._cpu
        self._wall, self._cpu = wall, cpu


@dataclass
class RolloutCounts:
    """What one profiled rollout did."""

    transitions: int
    """Learner transitions N."""
    rows: int
    """Rows through `forward` (learner and opponent moves)."""
    calls: int
    """Forward batches (one per network and step; each runs as pieces of `numbaplay.nn.rows.INFER_ROWS`)."""
    nets: int
    """Distinct networks evaluated."""


def rollout_profiled(tr: Trainer, clock: Clock) -> RolloutCounts:
    """`Trainer.rollout` as a timed Python step loop, writing the same buffers with the same values."""
    cfg, ws = tr.cfg, tr.ws_roll
    gid, spec, offs, seed, it = tr.game.gid, tr.spec_arr, tr.offs, cfg.seed, tr.iteration
    x, mask, logits, vpre = tr.x_roll, tr.m_roll, tr.l_roll, tr.v_roll
    slots = (tr.slot_obs, tr.slot_mask, tr.slot_action, tr.slot_logp, tr.slot_value, tr.slot_count)
    clock.restart()
    pool = tr.pool_array()
    n_games, n_pool = tr.slot_count.shape[0], pool.shape[0]
    states = np.zeros((n_games, 4), np.int64)
    actions = np.full(n_games, -1, np.int64)
    active = np.zeros(n_games, np.bool_)
    rows = np.empty(n_games, np.int64)
    counts = np.zeros(n_pool + 1, np.int64)
    order = np.empty(n_games, np.int64)
    all_rows = np.empty(n_games, np.int64)
    scratch = np.empty((n_games, mask.shape[1]), np.float32)
    n_jobs = get_num_threads()
    choose_opponents(tr.opponent, n_pool, seed, it)
    tr.slot_count[:] = 0
    tr.moves[:, :] = -1
    if cfg.random_opening_plies > 0:
        random_openings(states, tr.moves, gid, mask.shape[1], cfg.random_opening_plies, seed, it)
    n_rows_total = n_calls = 0
    used = np.zeros(n_pool + 1, np.bool_)
    for _step in range(tr.moves.shape[1]):
        n_learn, any_active = schedule_step(rows, order, counts, active, states, tr.opponent)
        if not any_active:
            break
        n_rows = step_rows(all_rows, rows, n_learn, order, counts)
        _gather(x, mask, all_rows, n_rows, states, gid)
        clock.lap("rollout/game_logic")
        step_inference(n_learn, counts, tr.params, pool, spec, offs, x, ws.hs, ws.us, ws.pre, ws.xh, ws.rs,
                       logits, vpre, n_jobs)
        clock.lap("rollout/inference")
        move_rows(n_rows, n_learn, actions, *slots, all_rows, x, mask, logits, vpre, states, tr.moves, active, gid,
                  cfg.opp_temperature, seed, it, scratch, n_jobs)
        n_rows_total += int(n_rows)
        entry_batch = counts[1:] > counts[:-1]  # pool entries with rows this step: one batch each
        n_calls += int(n_learn > 0) + int(np.count_nonzero(entry_batch))
        used[n_pool] |= n_learn > 0
        used[:n_pool] |= entry_batch
    tr.status[:] = states[:, 3]
    n = pack_transitions(tr.obs, tr.mask, tr.action, tr.logp, tr.value, tr.reward, tr.done, tr.result,
                         *slots, tr.status, cfg.draw_reward)
    clock.lap("rollout/game_logic")
    return RolloutCounts(int(n), n_rows_total, n_calls, int(used.sum()))


@njit(cache=True)
def _head_rows_flushed(dlogits, dvpre, sums, logits, vpre, mask, action, logp_old, adv, ret, lo, hi, n, clip_eps,
                       vf_coef, ent_coef):
    """`ppo_head_rows` with subnormals flushed to zero, as the fused shard step runs it."""
    fp = flush_enter()
    ppo_head_rows(dlogits, dvpre, sums, logits, vpre, mask, action, logp_old, adv, ret, lo, hi, n, clip_eps,
                  vf_coef, ent_coef)
    flush_exit(fp)


def update_profiled(tr: Trainer, n: int, clock: Clock) -> np.ndarray:
    """`Trainer.update` as a timed Python loop over minibatches; same parameters, moments, statistics."""
    clock.restart()
    c, ws = tr.cfg, tr.ws_upd
    lr, ent = tr.learning_rate(), tr.entropy_coef()
    bounds = minibatch_bounds(n, c.batch_size)
    k = bounds.shape[0] - 1
    stats = np.zeros((c.epochs * k, len(STAT_NAMES)), np.float64)
    perm = np.empty(n, np.int64)
    head = np.empty(6, np.float64)
    batch = (tr.bx, tr.bmask, tr.baction, tr.blogp, tr.badv, tr.bret)
    cache = (ws.hs, ws.us, ws.pre, ws.xh, ws.rs)
    spec, offs = tr.spec_arr, tr.offs
    units = unit_halves(spec, c.batch_size)
    shards = tr.grads.shape[0]  # the most shards a minibatch takes (`shard_limit`)
    sums = np.empty((shards, 5), np.float64)
    partial = np.zeros(UNIT_PARTS * UNIT_STRIDE, np.float64)
    t = tr.t
    row = 0
    clock.lap("update/other")  # the set-up above
    for e in range(c.epochs):
        permutation(perm, np.uint64(stream_key(c.seed, SHUFFLE, tr.iteration, e)))
        for b in range(k):
            lo = bounds[b]
            rows = bounds[b + 1] - lo
            gather(*batch, perm[lo:lo + rows], tr.obs, tr.mask, tr.action, tr.logp, tr.adv_norm, tr.ret)
            clock.lap("update/other")
            cuts = shard_cuts(rows, shards)
            n_shards = cuts.shape[0] - 1
            forward_pieces(tr.params, spec, offs, tr.bx, *cache, tr.blogits, tr.bvpre, cuts, True)
            clock.lap("update/forward")
            for s in range(n_shards):
                _head_rows_flushed(tr.dlogits, tr.dvpre, sums[s], tr.blogits, tr.bvpre, tr.bmask, tr.baction,
                                   tr.blogp, tr.badv, tr.bret, cuts[s], cuts[s + 1], rows, c.clip_eps, c.vf_coef,
                                   ent)
            head_stats(head, sums, n_shards, rows, c.vf_coef, ent)
            if units:  # `numbaplay.ppo.update.unit_epochs`'s phases
                unit_backward_shards(ws.us, tr.params, spec, offs, ws.hs, tr.dlogits, tr.dvpre, cuts)
                unit_grads_parts(tr.grad, partial, spec, offs, tr.bx, rows, ws.hs, ws.us, tr.dlogits, tr.dvpre)
                clock.lap("update/backward")
                t += 1
                norm = unit_norm(partial)
                unit_adam_parts(tr.params, tr.grad, tr.m, tr.v, spec, offs, t, lr, c.max_grad_norm, norm)
            else:
                backward_shards(tr.grads, tr.params, spec, offs, tr.bx, *cache, tr.dlogits, tr.dvpre, ws.dh,
                                ws.dt, cuts)
                clock.lap("update/backward")
                t += 1
                norm = combine_grad_norm(tr.grads, n_shards)
                adam_step(tr.params, tr.grad, tr.m, tr.v, t, lr, c.max_grad_norm, norm)
            clock.lap("update/adam")
            stats[row, :6] = head
            stats[row, 6] = norm
            stats[row, 7] = rows
            row += 1
    tr.t = t
    clock.lap("update/other")
    return stats


def stale_kernel_caches() -> list[str]:
    """Fused kernels whose Numba cache is older than a source file they call into.

    Numba checks only the source file of the cached function itself, so after an edit to, say,
    `numbaplay/nn/net.py`, `rollout_kernel` and the `ppo_epochs` kernels keep loading the code compiled
    before it.
    Call this after the kernels ran: an index written in this process is never reported.
    """
    root = Path(__file__).resolve().parents[1]
    deps = [*root.glob("nn/*.py"), *root.glob("games/*.py"), root / "rng.py"]
    newest = max(deps, key=lambda p: p.stat().st_mtime)
    out = []
    for kernel in (rollout_kernel, ppo_epochs, ppo_epochs_mlp):
        try:
            index = Path(kernel._cache._cache_file._index_path)
        except AttributeError:  # NUMBA_DISABLE_JIT, or a kernel without cache=True
            continue
        if index.exists() and index.stat().st_mtime < newest.stat().st_mtime:
            changed = newest.relative_to(root.parent)
            out.append(f"{kernel.__name__}: its Numba cache {index} predates {changed}; "
                       "the fused kernel may run old code (delete that cache or set NUMBA_CACHE_DIR)")
    return out


# -- the driver ----------------------------------------------------------------------------------------
_ROLLOUT_OUT = ("slot_count", "moves", "status", "opponent", "result")
_BUFFER_OUT = ("obs", "mask", "action", "logp", "value", "reward", "done")
_STATE = ("params", "m", "v", "grads")


def _rollout_outputs(tr: Trainer, n: int) -> dict:
    out = {name: getattr(tr, name).copy() for name in _ROLLOUT_OUT}
    out.update({name: getattr(tr, name)[:n].copy() for name in _BUFFER_OUT})
    return out


def _equal(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a)


def _iteration(tr: Trainer, evaluate: bool) -> dict:
    """One measured iteration: fused kernels and profiled loops on the same state, then the pool update."""
    rec: dict = {}
    start = time.perf_counter()
    # Rollout: the fused kernel, then the profiled loop over the same state (it rewrites the buffers).
    t0, c0 = time.perf_counter(), time.process_time()
    n = tr.rollout()
    rec["fused_rollout"] = time.perf_counter() - t0
    rec["fused_rollout_cpu"] = time.process_time() - c0
    fused = _rollout_outputs(tr, n)
    clock = Clock()  # restarted by each profiled phase
    counts = rollout_profiled(tr, clock)
    same = counts.transitions == n and _equal(fused, _rollout_outputs(tr, n))
    clock.restart()
    tr.advantages(n)
    clock.lap("gae")
    # Update: the fused kernel from a saved state, then the profiled loop from the same state.
    saved = {name: getattr(tr, name).copy() for name in _STATE}
    saved_t = tr.t
    t0, c0 = time.perf_counter(), time.process_time()
    stats_fused = tr.update(n)
    rec["fused_update"] = time.perf_counter() - t0
    rec["fused_update_cpu"] = time.process_time() - c0
    after = {name: getattr(tr, name).copy() for name in _STATE}
    after_t = tr.t
    for name in _STATE:
        getattr(tr, name)[:] = saved[name]
    tr.t = saved_t
    stats = update_profiled(tr, n, clock)
    update_pool(tr.pool, tr.params, tr.iteration, tr.cfg.snapshot_interval, tr.cfg.pool_size)
    clock.lap("update/other")
    same = (same and tr.t == after_t and np.array_equal(stats, stats_fused, equal_nan=True)
            and _equal(after, {name: getattr(tr, name) for name in _STATE}))
    rec["fused_gae"] = clock.wall["gae"]
    rec["fused_gae_cpu"] = clock.cpu["gae"]
    if evaluate:
        from numbaplay.agent import Agent
        from numbaplay.eval.evaluate import evaluate_agent

        clock.restart()
        evaluate_agent(Agent(tr.cfg.game, tr.spec, tr.params, tr.iteration), quick=True, seed=tr.cfg.seed)
        clock.lap(EVALUATION)
    tr.iteration += 1
    shards = tr.grads.shape[0]  # the most shards a minibatch takes (`shard_limit`)
    rec.update(wall=dict(clock.wall), cpu=dict(clock.cpu), transitions=n, rows=counts.rows,
               calls=counts.calls, nets=counts.nets, steps=int(stats.shape[0]),
               one_shard_steps=sum(shard_cuts(int(r), shards).shape[0] == 2 for r in stats[:, 7]),
               update_rows=int(stats[:, 7].sum()), identical=bool(same),
               total=time.perf_counter() - start)
    return rec


def _summary(values: list[float]) -> dict:
    return {"median_s": float(np.median(values)), "min_s": float(np.min(values)),
            "max_s": float(np.max(values))}


def subnormal_counts(tr: Trainer) -> dict[str, int]:
    """How many entries of the parameters and Adam moments are subnormal floats (slow on x86 cores)."""
    tiny = np.finfo(np.float32).tiny
    out = {}
    for name in ("params", "m", "v"):
        a = np.abs(getattr(tr, name))
        out[name] = int(np.count_nonzero((a > 0) & (a < tiny)))
    return out


def profile_training(cfg, *, preset: str | None = None, iterations: int = 5, warmup: int = 1,
                     evaluate: bool | None = None, blas_threads: int = 1, machine: dict | None = None,
                     skip: int = 0, checkpoint: dict | None = None, on_iteration=None) -> dict:
    """Profile `iterations` training iterations of `cfg` after `warmup` ones; returns the report dict.

    evaluate: run one evaluation per iteration (default: tictactoe yes, connect4 no). machine: an entry
    of `machine_peaks` (measured or read from the cache when None). skip: untimed training iterations
    (`Trainer.step`) first, to profile a later stage of training. checkpoint: a loaded checkpoint to start
    from. on_iteration(done, total): progress, counting skipped iterations. Library code: never prints.
    """
    if iterations < 1 or warmup < 1:
        raise ValueError("profile_training needs at least one warm-up and one measured iteration")
    if evaluate is None:
        evaluate = cfg.game == "tictactoe"
    cached = True
    if machine is None:
        machine, cached = machine_peaks()
    load_start = uptime()
    records = []
    total = skip + warmup + iterations
    with blas_limits(blas_threads):
        blas_effective = blas_threads_in_effect()
        t0 = time.perf_counter()
        tr = Trainer(cfg) if checkpoint is None else Trainer.from_checkpoint(checkpoint, cfg)
        background = tr.compile_update_in_background().started
        setup_s = time.perf_counter() - t0
        for i in range(skip):
            tr.step()
            if on_iteration is not None:
                on_iteration(i + 1, total)
        start = {"iteration": tr.iteration, "adam_t": tr.t, "pool_size": len(tr.pool),
                 "subnormals": subnormal_counts(tr)}
        for i in range(warmup + iterations):
            records.append(_iteration(tr, evaluate))
            if on_iteration is not None:
                on_iteration(skip + i + 1, total)
        end = {"iteration": tr.iteration, "adam_t": tr.t, "pool_size": len(tr.pool),
               "subnormals": subnormal_counts(tr)}
    load_end = uptime()
    report = _report(cfg, preset, records[warmup:], records[:warmup], tr, machine, cached, blas_threads,
                     blas_effective, evaluate, setup_s, load_start, load_end)
    report.update(skip=skip, from_checkpoint=checkpoint is not None, state_start=start, state_end=end,
                  n_params=int(tr.params.shape[0]), stale_kernel_caches=stale_kernel_caches(),
                  jit_update_in_background=background)
    return report


def apply_floors(result: dict, machine: dict) -> dict:
    """Set the floor fields of a report from its work counts and a machine entry (also for a saved report).

    floor = GEMM FLOPs / sgemm peak + compulsory bytes / bandwidth, per phase and summed over the
    iteration's phases (evaluation excluded), three ways:
      floor_s                    best wall-clock rates at any thread count; held against wall times
      floor_training_threads_s   wall-clock rates at the run's BLAS thread count
      floor_cpu_s                one core's rates per CPU second; held against CPU times, which on a
                                 shared machine still say how close the code runs to the hardware
    """
    peak_all, bw_all = best_peaks(machine)
    peak_train, bw_train = peak_at(machine, result["blas_threads"])
    peak_core, bw_core = core_peaks(machine)
    totals = {"floor_s": 0.0, "floor_training_threads_s": 0.0, "floor_cpu_s": 0.0}
    for name, entry in result["phase_stats"].items():
        if name == EVALUATION:
            continue
        fl, by = entry["gemm_flops"], entry["compulsory_bytes"]
        floors = {"floor_s": fl / (peak_all * 1e9) + by / (bw_all * 1e9),
                  "floor_training_threads_s": fl / (peak_train * 1e9) + by / (bw_train * 1e9),
                  "floor_cpu_s": fl / (peak_core * 1e9) + by / (bw_core * 1e9)}
        entry.update(floors)
        entry["floor_ratio"] = entry["median_s"] / floors["floor_s"] if floors["floor_s"] > 0 else None
        entry["floor_cpu_ratio"] = (entry["cpu_median_s"] / floors["floor_cpu_s"]
                                    if floors["floor_cpu_s"] > 0 else None)
        entry["gemm_gflops_per_cpu_s"] = (fl / entry["cpu_median_s"] / 1e9
                                          if fl and entry["cpu_median_s"] > 0 else None)
        for key, value in floors.items():
            totals[key] += value
    result.update(totals)

    def ratio(time_s, floor_s):
        return time_s / floor_s if floor_s > 0 else None

    result["floor_ratio"] = ratio(result["iteration_s"], totals["floor_s"])
    result["floor_training_threads_ratio"] = ratio(result["iteration_s"], totals["floor_training_threads_s"])
    result["floor_cpu_ratio"] = ratio(result["iteration_cpu_s"], totals["floor_cpu_s"])
    result["floor_note"] = (
        "floor = GEMM FLOPs / sgemm peak + compulsory bytes / bandwidth (numbaplay/profile/flops.py); "
        f"floor_s at the best wall-clock rates ({peak_all:.1f} GFLOP/s, {bw_all:.1f} GB/s); "
        f"floor_training_threads_s at {result['blas_threads']} BLAS thread(s) ({peak_train:.1f} GFLOP/s, "
        f"{bw_train:.1f} GB/s); floor_cpu_s at one core's rates per CPU second ({peak_core:.1f} GFLOP, "
        f"{bw_core:.1f} GB), against CPU times; machine measured {machine['measured_at']}")
    result["machine"] = machine
    return result


def _report(cfg, preset, steady, warm, tr, machine, cached, blas_threads, blas_effective, evaluate,
            setup_s, load_start, load_end) -> dict:
    names = PHASES + ((EVALUATION,) if evaluate else ())
    wall = {p: [r["wall"].get(p, 0.0) for r in steady] for p in names}
    cpu = {p: [r["cpu"].get(p, 0.0) for r in steady] for p in names}
    iteration = [r["fused_rollout"] + r["fused_gae"] + r["fused_update"] for r in steady]
    iteration_cpu = [r["fused_rollout_cpu"] + r["fused_gae_cpu"] + r["fused_update_cpu"] for r in steady]
    profiled = [sum(r["wall"].get(p, 0.0) for p in PHASES) for r in steady]
    iteration_s = float(np.median(iteration))
    profiled_s = float(np.median(profiled))

    def mean(key):
        return float(np.mean([r[key] for r in steady]))

    shape = flops.shape_of(tr.spec, n_params(tr.spec))
    work = flops.IterationWork(
        games=cfg.games_per_iter, max_plies=tr.game.max_plies, transitions=round(mean("transitions")),
        rollout_rows=round(mean("rows")), rollout_nets=round(mean("nets")),
        update_rows=round(mean("update_rows")), update_steps=round(mean("steps")))
    per_phase = flops.phase_work(shape, work)
    stats: dict[str, dict] = {}
    for p in names:
        med = float(np.median(wall[p]))
        entry = {**_summary(wall[p]), "cpu_median_s": float(np.median(cpu[p]))}
        if p == EVALUATION:
            every = cfg.eval_every
            entry["share"] = (med / every / iteration_s) if every else None
            entry["share_note"] = (f"amortised: training evaluates every {every} iterations" if every
                                   else "training evaluates only at the end")
        else:
            w = per_phase[p]
            entry.update(
                share=med / profiled_s if profiled_s > 0 else None,
                gemm_flops=w["gemm_flops"], elementwise_flops_estimate=w["elementwise_flops"],
                compulsory_bytes=w["bytes"],
                gemm_gflops_per_s=(w["gemm_flops"] / med / 1e9) if med > 0 and w["gemm_flops"] else None)
        stats[p] = entry
    first = warm[0]
    warm_total = first["total"]
    steady_total = float(np.median([r["total"] for r in steady]))
    transitions = mean("transitions")
    result = {
        "game": cfg.game, "preset": preset, "config": cfg.to_dict(),
        "iterations": len(steady), "warmup": len(warm),
        "numba_threads": get_num_threads(), "blas_threads": blas_threads,
        "blas_threads_in_effect": blas_effective,
        "iteration_s": iteration_s, "iteration": _summary(iteration),
        "iteration_note": "fused kernels (rollout_kernel + pack, GAE, ppo_epochs), as Trainer.step runs them",
        "phases": {p: stats[p]["median_s"] for p in names},
        "phase_stats": stats,
        "iteration_cpu_s": float(np.median(iteration_cpu)),
        "fused": {k: {**_summary([r[f"fused_{k}"] for r in steady]),
                      "cpu_median_s": float(np.median([r[f"fused_{k}_cpu"] for r in steady]))}
                  for k in ("rollout", "gae", "update")},
        "profiled_iteration_s": profiled_s,
        "profiled_iteration_cpu_s": float(np.median([sum(r["cpu"].get(p, 0.0) for p in PHASES)
                                                     for r in steady])),
        "profiling_overhead_s": profiled_s - iteration_s,
        "identical_to_fused": all(r["identical"] for r in warm + steady),
        "transitions_per_iter": transitions, "games_per_iter": cfg.games_per_iter,
        "rollout_rows_per_iter": mean("rows"), "forward_calls_per_iter": mean("calls"),
        "update_steps_per_iter": mean("steps"),
        # Steps whose minibatch is too small to split (numbaplay.nn.rows.shard_cuts): they use one thread.
        "update_one_shard_steps_per_iter": mean("one_shard_steps"),
        "transitions_per_s": transitions / iteration_s, "games_per_s": cfg.games_per_iter / iteration_s,
        "jit_compile_s": warm_total - steady_total,
        "jit_note": "warm-up iteration minus the median steady iteration (both profiled and fused runs)",
        "setup_s": setup_s,
        "machine_cached": cached,
        "uptime_start": load_start, "uptime_end": load_end,
    }
    return apply_floors(result, machine)
