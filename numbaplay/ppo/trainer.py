"""The self-play PPO training loop: plain Python calling one kernel per phase (SPEC sections 5, 6).

    rollout (prange, batched inference) -> GAE per game -> normalise -> epochs of minibatch steps
    -> pool update -> (every eval_every iterations) exact evaluation

Every random choice comes from counter-based streams of (seed, purpose, iteration, index), so a run
resumed from a checkpoint continues exactly as it would have.
"""
from __future__ import annotations

import time

import numba
import numpy as np

from numbaplay.background_compile import BackgroundCompile
from numbaplay.config import TrainConfig, schedule
from numbaplay.games import get_game
from numbaplay.nn.blas import single_threaded_kernel_blas
from numbaplay.nn.net import Workspace
from numbaplay.nn.params import NetSpec, init_params, n_params, offsets
from numbaplay.nn.sync import aligned_zeros
from numbaplay.ppo.gae import gae, normalize
from numbaplay.ppo.rollout import pack_transitions, rollout_kernel
from numbaplay.ppo.update import STAT_NAMES, epochs_kernel, minibatch_bounds, shard_limit


def net_spec(cfg: TrainConfig) -> NetSpec:
    game = get_game(cfg.game)
    return NetSpec(cfg.arch, game.obs_size, cfg.hidden, cfg.depth, game.n_actions)


# `Trainer.pool_array` pads each row to a multiple of this many floats (one 64-byte cache line).
POOL_ROW_ALIGN = 16


def update_pool(pool: list[np.ndarray], params: np.ndarray, i: int, snapshot_interval: int,
                pool_size: int) -> None:
    """After iteration i's update: append a snapshot every snapshot_interval; drop entry 1 when full."""
    if (i + 1) % snapshot_interval == 0:
        pool.append(params.copy())
        if len(pool) > pool_size:
            del pool[1]


class Trainer:
    """State of one run: parameters, Adam moments, pool, and preallocated buffers."""

    def __init__(self, cfg: TrainConfig, params: np.ndarray | None = None):
        self.cfg = cfg
        single_threaded_kernel_blas()
        self.game = get_game(cfg.game)
        self.spec = net_spec(cfg)
        self.spec_arr = self.spec.array()
        self.offs = offsets(self.spec)
        size = n_params(self.spec)
        # Parameters, moments and gradients start on a cache line (`numbaplay.nn.sync.aligned_zeros`).
        self.params = aligned_zeros(size)
        self.params[:] = init_params(self.spec, cfg.seed) if params is None else params
        self.m = aligned_zeros(size)
        self.v = aligned_zeros(size)
        self.t = 0
        self.iteration = 0
        self.pool = [self.params.copy()]
        self._pool_stack = (None, [])  # `pool_array`'s stacked copy and the entries it was made from
        self._update_compile = None
        self._alloc()

    def _alloc(self) -> None:
        g, cfg = self.game, self.cfg
        n_games, t_max = cfg.games_per_iter, g.max_learner_moves
        self.slot_obs = np.zeros((n_games, t_max, g.obs_size), np.float32)
        self.slot_mask = np.zeros((n_games, t_max, g.n_actions), np.uint8)
        self.slot_action = np.zeros((n_games, t_max), np.int64)
        self.slot_logp = np.zeros((n_games, t_max), np.float32)
        self.slot_value = np.zeros((n_games, t_max), np.float32)
        self.slot_count = np.zeros(n_games, np.int64)
        self.moves = np.full((n_games, g.max_plies), -1, np.int64)
        self.status = np.zeros(n_games, np.int64)
        self.opponent = np.zeros(n_games, np.int64)
        self.result = np.zeros(n_games, np.int64)
        n_max = n_games * t_max
        self.obs = np.zeros((n_max, g.obs_size), np.float32)
        self.mask = np.zeros((n_max, g.n_actions), np.uint8)
        self.action = np.zeros(n_max, np.int64)
        self.logp = np.zeros(n_max, np.float32)
        self.value = np.zeros(n_max, np.float32)
        self.reward = np.zeros(n_max, np.float32)
        self.done = np.zeros(n_max, np.uint8)
        self.adv = np.zeros(n_max, np.float32)
        self.ret = np.zeros(n_max, np.float32)
        self.adv_norm = np.zeros(n_max, np.float32)
        # Rollout workspace: one row per game; update workspace: one minibatch.
        self.ws_roll = Workspace(self.spec_arr, n_games, inference=True)
        self.x_roll = np.zeros((n_games, g.obs_size), np.float32)
        self.m_roll = np.zeros((n_games, g.n_actions), np.uint8)
        self.l_roll = np.zeros((n_games, g.n_actions), np.float32)
        self.v_roll = np.zeros(n_games, np.float32)
        rows = min(cfg.batch_size, n_max) + 1
        self.ws_upd = Workspace(self.spec_arr, rows)
        self.bx = np.zeros((rows, g.obs_size), np.float32)
        self.bmask = np.zeros((rows, g.n_actions), np.uint8)
        self.baction = np.zeros(rows, np.int64)
        self.blogp = np.zeros(rows, np.float32)
        self.badv = np.zeros(rows, np.float32)
        self.bret = np.zeros(rows, np.float32)
        self.blogits = np.zeros((rows, g.n_actions), np.float32)
        self.bvpre = np.zeros(rows, np.float32)
        self.dlogits = np.zeros((rows, g.n_actions), np.float32)
        self.dvpre = np.zeros(rows, np.float32)
        # One gradient per shard a minibatch can take (`shard_limit`); the unit-half step uses grads[0] alone.
        self.grads = aligned_zeros((shard_limit(self.spec_arr, cfg.batch_size, cfg.update_shards),
                                    self.params.shape[0]))
        self.grad = self.grads[0]  # the last step's whole-minibatch gradient

    # -- phases -------------------------------------------------------------------------------------
    def pool_array(self) -> np.ndarray:
        """The pool as one float32[n_pool, S] array, as the rollout kernel takes it: entry j is row j[:P], and
        S is P rounded up to 16 floats, so that every entry starts on a cache line (as the learner's
        parameters do) whatever P is. Stacked again only when the pool's entries change (a new snapshot,
        every snapshot_interval iterations): stacking c4-seed's 50 entries took 18 ms, serial, in every
        rollout. Entries are never modified in place (`update_pool` appends copies), so the same entry
        objects mean the same contents."""
        stacked, entries = self._pool_stack
        if stacked is None or len(entries) != len(self.pool) or any(a is not b for a, b in zip(entries, self.pool)):
            size = self.params.shape[0]
            stacked = aligned_zeros((len(self.pool), -(-size // POOL_ROW_ALIGN) * POOL_ROW_ALIGN))
            for row, entry in zip(stacked, self.pool):
                row[:size] = entry
            self._pool_stack = (stacked, list(self.pool))
        return stacked

    def rollout(self, n_jobs: int | None = None) -> int:
        """Play this iteration's games; returns the number of learner transitions N. n_jobs: how many jobs
        each step's parallel work splits into (default the Numba thread count); never changes the games."""
        ws = self.ws_roll
        pool = self.pool_array()
        rollout_kernel(self.slot_obs, self.slot_mask, self.slot_action, self.slot_logp, self.slot_value,
                       self.slot_count, self.moves, self.status, self.opponent, self.game.gid,
                       self.spec_arr, self.offs, self.params, pool, self.cfg.seed, self.iteration,
                       self.cfg.opp_temperature, self.cfg.random_opening_plies, self.x_roll, self.m_roll,
                       self.l_roll, self.v_roll,
                       ws.hs, ws.us, ws.pre, ws.xh, ws.rs,
                       numba.get_num_threads() if n_jobs is None else n_jobs)
        return pack_transitions(self.obs, self.mask, self.action, self.logp, self.value, self.reward,
                                self.done, self.result, self.slot_obs, self.slot_mask, self.slot_action,
                                self.slot_logp, self.slot_value, self.slot_count, self.status,
                                self.cfg.draw_reward)

    def advantages(self, n: int) -> None:
        gae(self.adv, self.ret, self.reward, self.value, self.done, n, self.cfg.gamma, self.cfg.gae_lambda)
        normalize(self.adv_norm, self.adv, n)

    def learning_rate(self) -> float:
        c = self.cfg
        return schedule(self.iteration, c.lr, c.lr_min, c.iterations, c.lr_schedule)

    def entropy_coef(self) -> float:
        c = self.cfg
        return schedule(self.iteration, c.ent_coef, c.ent_coef_min, c.iterations, c.ent_schedule)

    def _update_args(self, n: int, stats: np.ndarray) -> tuple:
        c, ws = self.cfg, self.ws_upd
        return (self.params, self.m, self.v, self.t, self.grads, stats, self.obs, self.mask,
                self.action, self.logp, self.adv_norm, self.ret, n, self.spec_arr, self.offs,
                c.seed, self.iteration, c.epochs, c.batch_size, self.learning_rate(),
                c.clip_eps, c.vf_coef, self.entropy_coef(), c.max_grad_norm, self.bx,
                self.bmask, self.baction, self.blogp, self.badv, self.bret, self.blogits,
                self.bvpre, self.dlogits, self.dvpre, ws.hs, ws.us, ws.pre, ws.xh, ws.rs,
                ws.dh, ws.dt, numba.get_num_threads())

    def compile_update_in_background(self) -> BackgroundCompile:
        """On a cold cache, compile the update kernel in a second process while this one compiles the
        rollout (`numbaplay.background_compile`); the first `update` waits for it. The returned job
        tells whether the kernel needed compiling (`needed`) and whether a child took it (`started`)."""
        stats = np.zeros((1, len(STAT_NAMES)), np.float64)
        self._update_compile = BackgroundCompile(epochs_kernel(self.spec_arr, self.cfg.batch_size),
                                                  self._update_args(0, stats))
        return self._update_compile

    def update(self, n: int) -> np.ndarray:
        """All epochs of minibatch steps; returns per-minibatch statistics float64[k, 8]."""
        c = self.cfg
        k = minibatch_bounds(n, c.batch_size).shape[0] - 1
        stats = np.zeros((c.epochs * k, len(STAT_NAMES)), np.float64)
        if self._update_compile is not None:
            self._update_compile.wait()
            self._update_compile = None
        self.t = epochs_kernel(self.spec_arr, c.batch_size)(*self._update_args(n, stats))
        return stats

    def timed_phases(self) -> tuple[int, np.ndarray, dict]:
        """Rollout, advantages and update of this iteration, each timed: (transitions N, the update's
        per-minibatch statistics, wall seconds of "rollout", "gae", "update" and all three, "iteration").
        Neither the pool nor the iteration counter moves (`step` does that)."""
        t0 = time.perf_counter()
        n = self.rollout()
        t1 = time.perf_counter()
        self.advantages(n)
        t2 = time.perf_counter()
        stats = self.update(n)
        t3 = time.perf_counter()
        return n, stats, {"rollout": t1 - t0, "gae": t2 - t1, "update": t3 - t2, "iteration": t3 - t0}

    def step(self) -> dict:
        """One whole iteration; returns its metrics (namespaced keys, SPEC section 6)."""
        t0 = time.perf_counter()
        lr, ent = self.learning_rate(), self.entropy_coef()
        n, stats, times = self.timed_phases()
        update_pool(self.pool, self.params, self.iteration, self.cfg.snapshot_interval, self.cfg.pool_size)
        metrics = self._metrics(n, stats, lr, ent)
        metrics.update({"time/rollout_s": times["rollout"], "time/gae_s": times["gae"],
                        "time/update_s": times["update"], "time/iteration_s": time.perf_counter() - t0})
        self.iteration += 1
        return metrics

    def _metrics(self, n: int, stats: np.ndarray, lr: float, ent: float) -> dict:
        w = stats[:, 7]
        rows = w.sum()  # 0 when no game gave the learner a move: no minibatch, no loss to report
        mean = [None] * 7 if rows == 0 else [float(x) for x in (stats[:, :7] * w[:, None]).sum(axis=0) / rows]
        ret = self.ret[:n].astype(np.float64)
        val = self.value[:n].astype(np.float64)
        var_r = float(np.var(ret)) if n else 0.0
        expl = None if var_r == 0.0 else float(1.0 - np.var(ret - val) / var_r)
        res = self.result
        n_games = res.shape[0]
        return {
            "iteration": self.iteration,
            "loss/policy": mean[0], "loss/value": mean[1], "loss/entropy": mean[2],
            "loss/approx_kl": mean[3], "loss/clip_frac": mean[4], "loss/total": mean[5],
            "loss/grad_norm": mean[6],
            "loss/explained_variance": expl,
            "charts/lr": lr, "charts/ent_coef": ent, "charts/transitions": int(n),
            "charts/games": int(n_games), "charts/pool_size": len(self.pool),
            "charts/learner_win": float(np.mean(res == 1)), "charts/learner_draw": float(np.mean(res == 0)),
            "charts/learner_loss": float(np.mean(res == -1)),
            "charts/adam_t": int(self.t),
        }

    # -- checkpoints --------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return dict(params=self.params, adam_m=self.m, adam_v=self.v, adam_t=self.t, spec=self.spec_arr,
                    pool=np.stack(self.pool), game=self.cfg.game, iteration=self.iteration,
                    config=self.cfg.to_dict())

    @classmethod
    def from_checkpoint(cls, ck: dict, cfg: TrainConfig) -> Trainer:
        tr = cls(cfg, params=ck["params"])
        tr.m[:] = ck["adam_m"]
        tr.v[:] = ck["adam_v"]
        tr.t = ck["adam_t"]
        tr.iteration = ck["meta"]["iteration"]
        tr.pool = [p.copy() for p in ck["pool"]]
        return tr
