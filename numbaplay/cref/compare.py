"""The Numba kernels against the C reference, tensor by tensor, on the same inputs (SPEC section 8).

In the style of llm.c's checker: build one case, run both implementations on it, and report per tensor
the largest absolute and relative difference, the tolerance, and OK / NOT OK. With a the Numba value
and b the C value, the tolerance model is (SPEC section 8):

- ``exact``: integer outputs are equal: replayed legal masks, observations, states and statuses, random
  streams, the parameter layout, and iteration 0's opponents, seats, moves, results and transitions;
- ``ulp``: elementwise float32 kernels given identical inputs agree within ``ELEM_ULPS`` units in the
  last place (distance between the two float32 bit patterns): initialisation, GAE, advantage
  normalisation, the masked softmax (run on C's logits) and clipping + Adam (run on C's gradient);
- ``blas``: tensors that pass through a GEMM pass when ``max|a - b| <= BLAS_RTOL max|b| + BLAS_ATOL``
  per tensor: logits, value, log-probabilities, entropy, dL/dlogits, the loss terms, the gradient
  split into its (name, shape, offset) tensors, the parameters after one Adam step on each
  implementation's own gradient, and the parameters and Adam moments after a short training iteration
  (the `small` cases); ``max_rel`` below is ``max|a - b| / max|b|``, the quantity bounded;
- ``stats``: the logged means of a short training iteration (SPEC section 6; the `small` cases, a few
  minibatch steps), means of terms that cancel, where later minibatches see parameters that differ by
  BLAS noise carried through Adam: ``max|a - b| <= STATS_RTOL max|b| + STATS_ATOL``;
- ``margin``: parity cases keep every ratio r = exp(logp_new - logp_old) at least ``R_MARGIN`` away from
  1 - eps and 1 + eps, where float32 and float64 could clip differently; the row checks both sides' r;
- ``info``: reported, not judged: after a whole iteration at a full preset's size (hundreds of Adam
  steps) parameters, moments and logged means have diverged chaotically; the row shows the divergence
  beside that of Numba from itself when every initial parameter moves by one ulp.

Timing runs whole training iterations of both implementations from the same parameters and config with
BLAS on one thread, and takes the median (with min and max) of each phase after warm-up iterations.
This module never prints; long parts report through an optional `on_progress(done, total, label)`.
"""
from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from numbaplay.config import TrainConfig
from numbaplay.cref.build import find_blas, run_binary
from numbaplay.cref.fileformat import INPUTS
from numbaplay.errors import NumbaplayError
from numbaplay.games import get_game
from numbaplay.games.core import legal_mask, observe, play, replay
from numbaplay.nn.adam import clip_and_adam, grad_norm
from numbaplay.nn.net import Workspace, backward, forward
from numbaplay.nn.params import NetSpec, init_params, layout, n_params, offsets
from numbaplay.nn.policy import masked_log_softmax, ppo_head_grads
from numbaplay.ppo.gae import gae, normalize
from numbaplay.ppo.trainer import Trainer, net_spec
from numbaplay.presets import preset
from numbaplay.rng import EVAL, SHUFFLE, key_below, key_draw, key_uniform, permutation, stream_key
from numbaplay.sysinfo import cpu_model

ELEM_ULPS = 4
"""Elementwise float32 kernels on identical inputs: at most this many ulp apart."""
BLAS_RTOL = 1e-4
"""Tensors through BLAS: max|a - b| <= BLAS_RTOL * max|b| + BLAS_ATOL, per tensor."""
BLAS_ATOL = 1e-7
STATS_RTOL = 1e-3
"""A whole iteration's logged means and final parameters (many Adam steps after the first forward)."""
STATS_ATOL = 1e-6
R_MARGIN = 1e-4
"""Least distance of every parity-case ratio r from 1 - eps and 1 + eps (SPEC section 8)."""

SMALL = {"hidden": 16, "depth": 3, "games_per_iter": 32, "batch_size": 48}
"""How a preset is shrunk for a `small` parity case. 48-row minibatches, two 24-row shards: the small
connect4 mlp takes the unit-half update (`numbaplay.ppo.update.unit_halves`) and the small tictactoe mlp
the row-shard one, so both designs' whole-update state is judged (the full presets' updates are compared
as information only)."""
SEED_PRESETS = {"tictactoe": "ttt-seed", "connect4": "c4-seed"}
"""Default preset per game: the reference study's settings, kept for speed comparisons."""
ARCHES = ("mlp", "resmlp")
PHASES = ("rollout", "gae", "update", "iteration")
SMALL_ROWS = 48
RNG_COUNT = 257
GAE_GAMES = 40


class CompareError(NumbaplayError, ValueError):
    """A comparison cannot be set up as asked (a bad option, an existing dump file)."""


# ---------------------------------------------------------------------------------------------------------
# One row of the parity table
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One tensor compared: Numba (a) against C (b)."""

    check: str
    """Which case, e.g. 'tictactoe mlp small kernels'."""
    tensor: str
    """Tensor name as in docs/FILEFORMAT.md; gradient tensors as 'grad/<layout name>'."""
    kind: str
    """exact, ulp, blas, stats, margin or info (module docstring)."""
    size: int
    """Elements compared."""
    max_abs: float
    """max |a - b| (for margin: the least distance of r from the clip edges)."""
    max_rel: float
    """max |a - b| / max |b| (0 when both are all zero)."""
    bound: float
    """What max_abs must not exceed (ulp kind: what max_ulp must not exceed; margin: the least distance
    allowed; info: the max abs difference of Numba from itself after a 1-ulp nudge, when measured)."""
    ok: bool
    """Within tolerance (always True for info rows, which are not judged)."""
    max_ulp: float | None = None
    """Largest distance in float32 ulp (ulp kind only)."""
    note: str = ""

    def tolerance(self) -> str:
        if self.kind == "exact":
            return "exact"
        if self.kind == "ulp":
            return f"<= {ELEM_ULPS} ulp"
        if self.kind == "margin":
            return f">= {self.bound:.0e} from 1+-eps"
        if self.kind == "info":
            return "not judged"
        rtol, atol = (BLAS_RTOL, BLAS_ATOL) if self.kind == "blas" else (STATS_RTOL, STATS_ATOL)
        return f"{rtol:.0e}*max|b|+{atol:.0e} = {self.bound:.3g}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tolerance"] = self.tolerance()
        for key in ("max_abs", "max_rel", "bound", "max_ulp"):
            if isinstance(d[key], float) and not math.isfinite(d[key]):
                d[key] = None if math.isnan(d[key]) else str(d[key])
        return d


def _ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|ordered(a) - ordered(b)| of float32 bit patterns: 0 for equal values (and +0/-0)."""
    def ordered(x):
        bits = np.ascontiguousarray(x, dtype=np.float32).view(np.int32).astype(np.int64)
        return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)

    dist = np.abs(ordered(a) - ordered(b)).astype(np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    one_nan = np.isnan(a) ^ np.isnan(b)
    return np.where(both_nan, 0.0, np.where(one_nan, np.inf, dist))


def compare_tensor(check: str, tensor: str, a, b, kind: str) -> Row:
    """Compare Numba's `a` with C's `b` under the tolerance of `kind`."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return Row(check, tensor, kind, int(b.size), math.inf, math.inf, 0.0, False,
                   note=f"shape {a.shape} vs {b.shape}")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    both_nan = np.isnan(a64) & np.isnan(b64)
    diff = np.where(both_nan, 0.0, np.abs(a64 - b64))
    diff = np.where(np.isnan(diff), np.inf, diff)
    max_abs = float(diff.max(initial=0.0))
    scale = float(np.max(np.abs(np.where(np.isnan(b64), 0.0, b64)), initial=0.0))
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    max_ulp = None
    if kind == "exact":
        bound, ok = 0.0, bool(max_abs == 0.0)
    elif kind == "ulp":
        max_ulp = float(_ulp_distance(a, b).max(initial=0.0))
        bound, ok = float(ELEM_ULPS), bool(max_ulp <= ELEM_ULPS)
    elif kind == "info":
        bound, ok = math.nan, True
    elif kind in ("blas", "stats"):
        rtol, atol = (BLAS_RTOL, BLAS_ATOL) if kind == "blas" else (STATS_RTOL, STATS_ATOL)
        bound = rtol * scale + atol
        ok = bool(max_abs <= bound)
    else:
        raise ValueError(f"unknown comparison kind {kind!r}")
    return Row(check, tensor, kind, int(b.size), max_abs, max_rel, bound, ok, max_ulp)


def merge_rows(rows: list[Row]) -> Row:
    """One row for a tensor compared in several chunks (exact kind: the chunks' worst)."""
    first = rows[0]
    worst = max(rows, key=lambda r: (not r.ok, r.max_abs))
    return Row(first.check, first.tensor, first.kind, sum(r.size for r in rows),
               max(r.max_abs for r in rows), max(r.max_rel for r in rows), worst.bound,
               all(r.ok for r in rows), None, worst.note)


def _margin_row(check: str, tensor: str, ratios: list[np.ndarray], clip_eps: float) -> Row:
    lo, hi = np.float32(1.0 - clip_eps), np.float32(1.0 + clip_eps)
    dist = min(float(np.min(np.minimum(np.abs(r - lo), np.abs(r - hi)))) for r in ratios)
    return Row(check, tensor, "margin", int(sum(r.size for r in ratios)), dist, 0.0, R_MARGIN,
               bool(dist >= R_MARGIN), note="least |r - (1 +- eps)| over Numba's and C's r")


# ---------------------------------------------------------------------------------------------------------
# Configurations and cases
# ---------------------------------------------------------------------------------------------------------
def parity_config(preset_name: str, arch: str, size: str) -> TrainConfig:
    """The preset with `arch`; `small` also shrinks the network and the games per iteration (SMALL)."""
    if size not in ("small", "full"):
        raise CompareError(f"size must be small or full, got {size!r}")
    changes = {"arch": arch, **(SMALL if size == "small" else {})}
    return preset(preset_name).replace(**changes)


def _perturbed_params(spec: NetSpec, seed: int, rng: np.random.Generator) -> np.ndarray:
    """SPEC init plus noise: logits far from uniform, LayerNorm gains and biases away from 1 and 0."""
    params = init_params(spec, seed).astype(np.float64)
    for name, shape, off in layout(spec):
        size = int(np.prod(shape))
        std = 0.5 / math.sqrt(shape[1]) if name.endswith(".W") else 0.1
        params[off:off + size] += rng.normal(0.0, std, size)
    return params.astype(np.float32)


@njit(cache=True)
def _random_games(moves, lengths, gid, n_act, seed):
    """Uniformly random complete games: moves int32[R, W] (-1 padded), lengths int32[R] (out).

    Move p of game g is the k-th legal action, k below the number of legal actions from draw p of
    stream (EVAL, 0, g); n_act is the game's number of actions.
    """
    state = np.zeros(4, dtype=np.int64)
    mask = np.zeros(n_act, dtype=np.uint8)
    for g in range(moves.shape[0]):
        key = stream_key(seed, EVAL, 0, g)
        state[:] = 0
        moves[g, :] = -1
        p = 0
        while state[3] == 0:
            legal_mask(gid, mask, state)
            n_legal = 0
            for a in range(n_act):
                n_legal += mask[a]
            k = key_below(key, p, n_legal)
            for a in range(n_act):
                if mask[a]:
                    if k == 0:
                        moves[g, p] = a
                        break
                    k -= 1
            play(gid, state, moves[g, p])
            p += 1
        lengths[g] = p


def random_games(game: str, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` random complete games: (moves int32[count, max_plies], lengths int32[count])."""
    g = get_game(game)
    moves = np.full((count, g.max_plies), -1, np.int32)
    lengths = np.zeros(count, np.int32)
    _random_games(moves, lengths, g.gid, g.n_actions, np.uint64(seed))
    return moves, lengths


def _positions(game: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(obs float32[n, O], mask uint8[n, A]) of n random non-terminal positions of random games."""
    g = get_game(game)
    moves, lengths = random_games(game, n, int(rng.integers(0, 2**62)))
    obs = np.zeros((n, g.obs_size), np.float32)
    mask = np.zeros((n, g.n_actions), np.uint8)
    for i in range(n):
        ply = int(rng.integers(0, lengths[i]))
        state = np.zeros(4, np.int64)
        for p in range(ply):
            play(g.gid, state, int(moves[i, p]))
        observe(g.gid, obs[i], state)
        legal_mask(g.gid, mask[i], state)
    return obs, mask


def _numba_logp(params, spec: NetSpec, obs, mask, action) -> np.ndarray:
    logits = _forward(params, spec, obs)[0]
    logp_all = masked_softmax(logits, mask)[0]
    return logp_all[np.arange(len(action)), action]


def kernel_case(cfg: TrainConfig, rows: int | None = None, seed: int = 0) -> tuple[NetSpec, dict]:
    """The inputs of `numbaplay_c kernels` for the network and loss settings of `cfg`.

    Every group: init from cfg.seed; a batch of `rows` random positions (default: cfg.batch_size) with
    perturbed parameters, random legal actions, advantages, returns and Adam moments, and logp_old set
    so that half the rows have r inside the clip range and half far outside, none near 1 +- eps;
    GAE over GAE_GAMES games of random lengths; a SHUFFLE stream.
    """
    game = get_game(cfg.game)
    spec = net_spec(cfg)
    rng = np.random.default_rng([seed, game.gid, int(spec.array()[0]), spec.hidden, spec.depth])
    n = cfg.batch_size if rows is None else rows
    params = _perturbed_params(spec, cfg.seed, rng)
    obs, mask = _positions(cfg.game, n, rng)
    action = np.array([rng.choice(np.flatnonzero(m)) for m in mask], dtype=np.int32)
    logp = _numba_logp(params, spec, obs, mask, action)
    eps = cfg.clip_eps
    inside = rng.uniform(1.0 - eps / 2, 1.0 + eps / 2, n)
    outside = rng.choice([1.0 - 2 * eps, 1.0 + 2 * eps], n)
    r = np.where(rng.random(n) < 0.5, inside, np.maximum(outside, 0.05))
    lengths = rng.integers(1, game.max_learner_moves + 1, GAE_GAMES)
    done = np.zeros(int(lengths.sum()), np.uint8)
    done[np.cumsum(lengths) - 1] = 1
    reward = np.where(done == 1, rng.choice([-1.0, 1.0, cfg.draw_reward, 0.25], done.size), 0.0)
    case = {
        "game": game.gid, "net.spec": spec.array(), "init.seed": cfg.seed, "params": params,
        "batch.obs": obs, "batch.mask": mask, "batch.action": action,
        "batch.logp_old": (logp.astype(np.float64) - np.log(r)).astype(np.float32),
        "batch.adv": rng.normal(size=n).astype(np.float32),
        "batch.ret": rng.uniform(-1.0, 1.0, n).astype(np.float32),
        "cfg.clip_eps": cfg.clip_eps, "cfg.vf_coef": cfg.vf_coef, "cfg.ent_coef": cfg.ent_coef,
        "cfg.max_grad_norm": cfg.max_grad_norm, "cfg.lr": cfg.lr,
        "adam.m": (rng.normal(size=params.size) * 1e-3).astype(np.float32),
        "adam.v": (rng.random(params.size) * 1e-5).astype(np.float32), "adam.t": 6,
        "gae.reward": reward.astype(np.float32),
        "gae.value": rng.uniform(-1.0, 1.0, done.size).astype(np.float32), "gae.done": done,
        "cfg.gamma": cfg.gamma, "cfg.lam": cfg.gae_lambda,
        "rng.seed": cfg.seed + 12345, "rng.stream": np.array([SHUFFLE, 3, 1]), "rng.count": RNG_COUNT,
    }
    return spec, case


def train_case(cfg: TrainConfig, params: np.ndarray, n_iterations: int) -> dict:
    """The inputs of `numbaplay_c train`: `cfg` from `params`, for `n_iterations` iterations.

    The entropy schedule and the random-opening curriculum are passed when this build's file format
    knows them (`fileformat.INPUTS`); otherwise a curriculum is refused and the C trainer uses a
    constant entropy coefficient (`constant_entropy` makes a config both sides can run).
    """
    game = get_game(cfg.game)
    case = {
        "game": game.gid, "net.spec": net_spec(cfg).array(), "params": params,
        "cfg.gamma": cfg.gamma, "cfg.lam": cfg.gae_lambda, "cfg.clip_eps": cfg.clip_eps,
        "cfg.vf_coef": cfg.vf_coef, "cfg.ent_coef": cfg.ent_coef, "cfg.max_grad_norm": cfg.max_grad_norm,
        "cfg.lr": cfg.lr, "cfg.lr_min": cfg.lr_min, "cfg.opp_temperature": cfg.opp_temperature,
        "cfg.draw_reward": cfg.draw_reward, "cfg.epochs": cfg.epochs,
        "cfg.games_per_iter": cfg.games_per_iter, "cfg.batch_size": cfg.batch_size,
        "cfg.lr_schedule": _SCHEDULES[cfg.lr_schedule], "cfg.iterations": cfg.iterations,
        "cfg.pool_size": cfg.pool_size, "cfg.snapshot_interval": cfg.snapshot_interval,
        "cfg.seed": cfg.seed, "cfg.n_iterations": n_iterations,
    }
    optional = {"cfg.ent_coef_min": cfg.ent_coef_min, "cfg.ent_schedule": _SCHEDULES[cfg.ent_schedule],
                "cfg.random_opening_plies": getattr(cfg, "random_opening_plies", 0)}
    schema = INPUTS["train"]
    for name, value in optional.items():
        if name in schema:
            case[name] = value
        elif name == "cfg.random_opening_plies" and value > 0:
            raise CompareError("this C reference build has no random-opening curriculum; "
                               "compare with random_opening_plies = 0")
    return case


_SCHEDULES = {"constant": 0, "cosine": 1}


def constant_entropy(cfg: TrainConfig) -> tuple[TrainConfig, str]:
    """`cfg` as both trainers can run it, and a note if that changed it: a C build without an entropy
    schedule gets a constant entropy coefficient on both sides (a cosine schedule's iteration 0 value)."""
    if cfg.ent_schedule == "constant" or "cfg.ent_schedule" in INPUTS["train"]:
        return cfg, ""
    note = (f"ent_schedule {cfg.ent_schedule} -> constant ent_coef {cfg.ent_coef:g} for both "
            "implementations (this C build has no entropy schedule)")
    return cfg.replace(ent_schedule="constant"), note


# ---------------------------------------------------------------------------------------------------------
# The Numba side of `kernels` mode
# ---------------------------------------------------------------------------------------------------------
def _forward(params, spec: NetSpec, obs):
    spec_arr, offs = spec.array(), offsets(spec)
    n = obs.shape[0]
    ws = Workspace(spec_arr, n)
    x = np.ascontiguousarray(obs, dtype=np.float32)
    logits = np.zeros((n, spec.n_actions), np.float32)
    vpre = np.zeros(n, np.float32)
    forward(np.ascontiguousarray(params, np.float32), spec_arr, offs, x, n, ws.hs, ws.us, ws.pre, ws.xh,
            ws.rs, logits, vpre)
    return logits, vpre, (ws, x)


@njit(cache=True)
def _masked_policy(logp_all, probs, entropy, logits, mask):
    """Per row: masked log-probabilities and probabilities (0 on illegal actions, C's convention) and
    the entropy, by `masked_log_softmax` and the float32 `exp` the Numba kernels use."""
    row = np.empty(logits.shape[1], dtype=np.float32)
    for i in range(logits.shape[0]):
        entropy[i] = masked_log_softmax(row, logits[i], mask[i])
        for a in range(logits.shape[1]):
            if mask[i, a]:
                logp_all[i, a] = row[a]
                probs[i, a] = np.exp(row[a])


def masked_softmax(logits, mask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numba's masked policy of every row: (logp_all, probs, entropy), 0 on illegal actions."""
    logits = np.ascontiguousarray(logits, np.float32)
    mask = np.ascontiguousarray(mask, np.uint8)
    logp_all = np.zeros(logits.shape, np.float32)
    probs = np.zeros(logits.shape, np.float32)
    entropy = np.zeros(logits.shape[0], np.float32)
    _masked_policy(logp_all, probs, entropy, logits, mask)
    return logp_all, probs, entropy


def _adam(case: dict, grad: np.ndarray) -> dict:
    params = np.array(case["params"], np.float32)
    m, v = np.array(case["adam.m"], np.float32), np.array(case["adam.v"], np.float32)
    t = int(case["adam.t"]) + 1
    clip_and_adam(params, np.array(grad, np.float32), m, v, t, float(case["cfg.lr"]),
                  float(case["cfg.max_grad_norm"]))
    return {"adam.params": params, "adam.m": m, "adam.v": v, "adam.t": np.int64(t)}


def numba_kernels(spec: NetSpec, case: dict) -> dict:
    """What `numbaplay_c kernels` computes for `case`, by the Numba kernels, under the same names."""
    out: dict[str, np.ndarray] = {}
    offs = offsets(spec)
    out["layout.offsets"] = offs
    out["layout.sizes"] = np.diff(offs)
    if "init.seed" in case:
        out["init.params"] = init_params(spec, int(case["init.seed"]))
    if "params" in case:
        params = np.ascontiguousarray(case["params"], np.float32)
        mask = np.ascontiguousarray(case["batch.mask"], np.uint8)
        action = np.asarray(case["batch.action"], np.int64)
        n = action.shape[0]
        logits, vpre, (ws, x) = _forward(params, spec, case["batch.obs"])
        logp_all, probs, entropy = masked_softmax(logits, mask)
        dlogits = np.zeros_like(logits)
        dvpre = np.zeros(n, np.float32)
        stats = np.zeros(6, np.float64)
        f32 = {k: np.asarray(case[f"batch.{k}"], np.float32) for k in ("logp_old", "adv", "ret")}
        ppo_head_grads(dlogits, dvpre, stats, logits, vpre, mask, action, f32["logp_old"], f32["adv"],
                       f32["ret"], n, float(case["cfg.clip_eps"]), float(case["cfg.vf_coef"]),
                       float(case["cfg.ent_coef"]))
        grad = np.zeros(n_params(spec), np.float32)
        backward(grad, params, spec.array(), offs, x, n, ws.hs, ws.us, ws.pre, ws.xh, ws.rs, dlogits, dvpre,
                 ws.dh, ws.dt)
        out.update({
            "out.logits": logits, "out.value": np.tanh(vpre), "out.logp": logp_all[np.arange(n), action],
            "out.entropy": entropy, "out.probs": probs, "out.logp_all": logp_all, "out.dlogits": dlogits,
            "loss.policy": stats[0], "loss.value": stats[1], "loss.entropy": stats[2],
            "loss.total": stats[5], "loss.approx_kl": stats[3], "loss.clip_frac": stats[4],
            "grad": grad, "grad.norm": np.float64(grad_norm(grad)),
        })
        out.update(_adam(case, grad))
    if "gae.reward" in case:
        reward = np.asarray(case["gae.reward"], np.float32)
        count = reward.shape[0]
        adv, ret, adv_norm = (np.zeros(count, np.float32) for _ in range(3))
        value, done = np.asarray(case["gae.value"], np.float32), np.asarray(case["gae.done"], np.uint8)
        gae(adv, ret, reward, value, done, count, float(case["cfg.gamma"]), float(case["cfg.lam"]))
        normalize(adv_norm, adv, count)
        out.update({"gae.adv": adv, "gae.ret": ret, "gae.adv_norm": adv_norm})
    if "rng.seed" in case:
        count = int(case["rng.count"])
        purpose, iteration, index = (int(v) for v in case["rng.stream"])
        key = stream_key(np.uint64(int(case["rng.seed"]) % 2**64), purpose, iteration, index)
        draws = np.array([key_draw(key, i) for i in range(count)], dtype=np.uint64)
        perm = np.zeros(count, np.int64)
        permutation(perm, key)
        out.update({"rng.draws": draws.view(np.int64),
                    "rng.uniform": np.array([key_uniform(key, i) for i in range(count)]),
                    "rng.permutation": perm})
    return out


# Which kernels-mode outputs are compared how (the gradient is split by the layout separately).
_EXACT = ("layout.offsets", "layout.sizes", "rng.draws", "rng.uniform", "rng.permutation", "adam.t",
          "loss.clip_frac")
_ULP = ("init.params", "gae.adv", "gae.ret", "gae.adv_norm")
_BLAS = ("out.logits", "out.value", "out.logp", "out.entropy", "out.probs", "out.logp_all", "out.dlogits",
         "loss.policy", "loss.value", "loss.entropy", "loss.total", "loss.approx_kl", "grad.norm",
         "adam.params", "adam.m", "adam.v")


def compare_kernels(check: str, spec: NetSpec, case: dict, numba_out: dict, c_out: dict) -> list[Row]:
    """The parity rows of one kernels case (see the module docstring for the kinds)."""
    rows = []
    for kind, names in (("exact", _EXACT), ("ulp", _ULP), ("blas", _BLAS)):
        for name in names:
            if name in c_out or name in numba_out:
                if name not in c_out or name not in numba_out:
                    rows.append(Row(check, name, kind, 0, math.inf, math.inf, 0.0, False,
                                    note="missing on one side"))
                    continue
                suffix = " (own grad)" if name.startswith("adam.") and kind == "blas" else ""
                rows.append(compare_tensor(check, name + suffix, numba_out[name], c_out[name], kind))
            if name == "out.dlogits" and "grad" in c_out:
                for lname, shape, off in layout(spec):
                    size = int(np.prod(shape))
                    rows.append(compare_tensor(check, f"grad/{lname}", numba_out["grad"][off:off + size],
                                               c_out["grad"][off:off + size], "blas"))
    if "out.logits" in c_out:
        # Elementwise kernels on identical inputs: Numba's masked softmax on C's logits, and Numba's
        # clip + Adam on C's gradient, against C's own results.
        logp_all, probs, entropy = masked_softmax(c_out["out.logits"], case["batch.mask"])
        action = np.asarray(case["batch.action"], np.int64)
        same = {"out.logp_all": logp_all, "out.probs": probs, "out.entropy": entropy,
                "out.logp": logp_all[np.arange(action.size), action]}
        for name, value in same.items():
            rows.append(compare_tensor(check, f"{name} (C logits)", value, c_out[name], "ulp"))
        adam = _adam(case, c_out["grad"])
        for name in ("adam.params", "adam.m", "adam.v"):
            rows.append(compare_tensor(check, f"{name} (C grad)", adam[name], c_out[name], "ulp"))
        eps = float(case["cfg.clip_eps"])
        logp_old = np.asarray(case["batch.logp_old"], np.float32)
        ratios = [np.exp(numba_out["out.logp"] - logp_old), np.exp(c_out["out.logp"] - logp_old)]
        rows.append(_margin_row(check, "batch.r", ratios, eps))
    return rows


# ---------------------------------------------------------------------------------------------------------
# Parity runs
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Parity:
    """One parity case: its inputs, both implementations' outputs, and the rows."""

    check: str
    spec: NetSpec | None
    case: dict
    numba_out: dict
    c_out: dict
    rows: list[Row]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)


def kernel_parity(cfg: TrainConfig, label: str, rows: int | None = None, seed: int = 0) -> Parity:
    """Run one kernels case on both implementations and compare."""
    spec, case = kernel_case(cfg, rows=rows, seed=seed)
    numba_out = numba_kernels(spec, case)
    c_out = run_binary("kernels", case)
    check = f"{label} kernels"
    return Parity(check, spec, case, numba_out, c_out, compare_kernels(check, spec, case, numba_out, c_out))


@njit(cache=True)
def _replay_batch(masks, obs, status, states, moves, lengths, gid):
    """Numba's replay of every game, laid out as C's `replay.*` outputs (status -1 past the end)."""
    n_slots = status.shape[1]
    mv = np.empty(moves.shape[1], dtype=np.int64)
    for g in range(moves.shape[0]):
        n = lengths[g]
        for p in range(n):
            mv[p] = moves[g, p]
        replay(gid, masks[g, :n + 1], obs[g, :n + 1], status[g, :n + 1], mv, n)
        state = np.zeros(4, dtype=np.int64)
        states[g, 0, :] = state
        for p in range(n):
            play(gid, state, mv[p])
            states[g, p + 1, :] = state
        for p in range(n + 1, n_slots):
            status[g, p] = -1


def numba_replays(game: str, moves: np.ndarray, lengths: np.ndarray) -> dict:
    """Numba's `replay.*` tensors for a batch of move lists."""
    g = get_game(game)
    count, slots = moves.shape[0], g.max_plies + 1
    out = {"replay.state": np.zeros((count, slots, 4), np.int64),
           "replay.mask": np.zeros((count, slots, g.n_actions), np.uint8),
           "replay.obs": np.zeros((count, slots, g.obs_size), np.float32),
           "replay.status": np.zeros((count, slots), np.int64)}
    _replay_batch(out["replay.mask"], out["replay.obs"], out["replay.status"], out["replay.state"],
                  np.ascontiguousarray(moves, np.int32), np.ascontiguousarray(lengths, np.int32), g.gid)
    return out


def replay_parity(game: str, count: int, seed: int = 0, chunk: int = 2000, on_progress=None) -> Parity:
    """Replay `count` random complete games in both implementations; masks, obs, states, statuses exact.

    Games go to the C binary in chunks of `chunk` to bound memory; the rows merge the chunks. The
    returned Parity keeps the moves (the case) but not the outputs.
    """
    if count < 1:
        raise CompareError(f"the number of replays must be at least 1, got {count}")
    g = get_game(game)
    moves, lengths = random_games(game, count, seed)
    check = f"{game} replays"
    per_tensor: dict[str, list[Row]] = {}
    finals = np.zeros(4, np.int64)
    for start in range(0, count, chunk):
        stop = min(start + chunk, count)
        mv, ln = moves[start:stop], lengths[start:stop]
        spec = NetSpec("mlp", g.obs_size, 1, 1, g.n_actions).array()
        c_out = run_binary("kernels", {"game": g.gid, "net.spec": spec, "replay.moves": mv,
                                       "replay.length": ln})
        nb = numba_replays(game, mv, ln)
        for name in ("replay.mask", "replay.obs", "replay.state", "replay.status"):
            row = compare_tensor(check, name, nb[name], c_out[name], "exact")
            per_tensor.setdefault(name, []).append(row)
        np.add.at(finals, c_out["replay.status"][np.arange(stop - start), ln], 1)
        if on_progress:
            on_progress(stop, count, f"{game} replays")
    rows = [merge_rows(r) for r in per_tensor.values()]
    rows[0].note = (f"{count} games: {finals[1]} first-player wins, {finals[2]} second-player wins, "
                    f"{finals[3]} draws")
    return Parity(check, None, {"replay.moves": moves, "replay.length": lengths}, {}, {}, rows)


@contextlib.contextmanager
def threads_context(threads: int | None):
    """Numba on `threads` threads (unchanged if None) and BLAS on one, restored afterwards."""
    import numba
    from threadpoolctl import threadpool_limits

    before = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(threads)
    try:
        with threadpool_limits(1, user_api="blas"):
            yield numba.get_num_threads()
    finally:
        numba.set_num_threads(before)


def _trainer_outputs(tr: Trainer, metrics: dict, n: int) -> dict:
    """A Numba Trainer after iteration 0, under the names of `numbaplay_c train`'s outputs."""
    games = tr.cfg.games_per_iter
    expl = metrics["loss/explained_variance"]
    return {
        "iter0.opponent": tr.opponent, "iter0.seat": np.arange(games) % 2, "iter0.moves": tr.moves,
        "iter0.result": tr.status, "iter0.game": np.repeat(np.arange(games), tr.slot_count),
        "iter0.obs": tr.obs[:n], "iter0.mask": tr.mask[:n], "iter0.action": tr.action[:n],
        "iter0.reward": tr.reward[:n], "iter0.done": tr.done[:n], "iter0.logp_old": tr.logp[:n],
        "iter0.value": tr.value[:n], "iter0.adv": tr.adv[:n], "iter0.ret": tr.ret[:n],
        "iter0.adv_norm": tr.adv_norm[:n],
        "log.policy_loss": [metrics["loss/policy"]], "log.value_loss": [metrics["loss/value"]],
        "log.entropy": [metrics["loss/entropy"]], "log.approx_kl": [metrics["loss/approx_kl"]],
        "log.clip_frac": [metrics["loss/clip_frac"]], "log.grad_norm": [metrics["loss/grad_norm"]],
        "log.explained_var": [math.nan if expl is None else expl], "log.lr": [metrics["charts/lr"]],
        "log.ent_coef": [metrics["charts/ent_coef"]],
        "log.n_transitions": [float(n)], "log.learner_win": [metrics["charts/learner_win"]],
        "log.learner_draw": [metrics["charts/learner_draw"]],
        "log.learner_loss": [metrics["charts/learner_loss"]],
        "params": tr.params, "adam.m": tr.m, "adam.v": tr.v, "adam.t": np.int64(tr.t),
        "pool.size": np.int64(len(tr.pool)), "layout.offsets": tr.offs, "layout.sizes": np.diff(tr.offs),
    }


_TRAIN_EXACT = ("iter0.opponent", "iter0.seat", "iter0.moves", "iter0.result", "iter0.game", "iter0.obs",
                "iter0.mask", "iter0.action", "iter0.reward", "iter0.done", "log.lr", "log.ent_coef",
                "log.n_transitions",
                "log.learner_win", "log.learner_draw", "log.learner_loss", "adam.t", "pool.size",
                "layout.offsets", "layout.sizes")
_TRAIN_BLAS = ("iter0.logp_old", "iter0.value", "iter0.adv", "iter0.ret", "iter0.adv_norm")
_TRAIN_STATS = ("log.policy_loss", "log.value_loss", "log.entropy", "log.approx_kl", "log.clip_frac",
                "log.grad_norm", "log.explained_var")
_TRAIN_STATE = ("params", "adam.m", "adam.v")


def nudge_ulp(params: np.ndarray) -> np.ndarray:
    """Every parameter moved by one float32 ulp, up at even offsets and down at odd ones."""
    params = np.asarray(params, np.float32)
    toward = np.where(np.arange(params.size) % 2 == 0, np.float32(np.inf), np.float32(-np.inf))
    return np.nextafter(params, toward.astype(np.float32)).astype(np.float32)


def train0_parity(cfg: TrainConfig, label: str, params: np.ndarray | None = None,
                  threads: int | None = None, judge_update: bool = True) -> Parity:
    """Iteration 0 of `numbaplay_c train` against Numba's Trainer from the same parameters and config.

    Always judged: the games and transitions exactly, the rollout's log-probabilities and values (and
    GAE and normalisation on them) within the BLAS tolerance. The update (all epochs of minibatch steps)
    amplifies BLAS-level differences chaotically once it has many steps: with `judge_update` (small
    cases, a few steps) the iteration's logged means (stats kind) and the parameters and Adam moments
    after it (per layout tensor, blas kind) are judged; without it (full presets) they are reported as
    `info` rows beside the divergence of Numba from itself when every initial parameter is moved by one
    ulp (`nudge_ulp`), the scale that any rounding difference grows to (SPEC section 8: whole runs are
    never compared bit for bit).
    """
    spec = net_spec(cfg)
    params = init_params(spec, cfg.seed) if params is None else np.asarray(params, np.float32)
    case = train_case(cfg, params, 1)
    with threads_context(threads) as n_threads:
        tr = Trainer(cfg, params=params.copy())
        metrics = tr.step()
        c_out = run_binary("train", case, threads=n_threads)
        nudged = None
        if not judge_update:
            tr2 = Trainer(cfg, params=nudge_ulp(params))
            m2 = tr2.step()
            nudged = _trainer_outputs(tr2, m2, int(m2["charts/transitions"]))
    n = int(metrics["charts/transitions"])
    nb = _trainer_outputs(tr, metrics, n)
    check = f"{label} train iteration 0"
    rows = []
    for kind, names in (("exact", _TRAIN_EXACT), ("blas", _TRAIN_BLAS)):
        rows += [compare_tensor(check, name, nb[name], c_out[name], kind) for name in names
                 if name in c_out]  # log.ent_coef: only from builds with an entropy schedule
    pairs = [(name, name, slice(None)) for name in _TRAIN_STATS]
    for name in _TRAIN_STATE:
        pairs += [(f"{name}/{lname}", name, slice(off, off + int(np.prod(shape))))
                  for lname, shape, off in layout(spec)]
    for tensor, name, part in pairs:
        a, b = np.asarray(nb[name])[part], np.asarray(c_out[name])[part]
        if judge_update:
            rows.append(compare_tensor(check, tensor, a, b, "stats" if name.startswith("log.") else "blas"))
        else:
            floor = compare_tensor(check, tensor, a, np.asarray(nudged[name])[part], "info")
            row = compare_tensor(check, tensor, a, b, "info")
            row.bound = floor.max_abs
            row.note = f"Numba vs Numba from a 1-ulp nudged start: max abs {floor.max_abs:.3g}"
            rows.append(row)
    return Parity(check, spec, case, nb, c_out, rows)


# ---------------------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Timing:
    """Wall seconds of each phase over the timed iterations of one implementation."""

    impl: str
    preset: str
    phases: dict[str, list[float]]
    transitions: list[int]
    warmup: int
    threads: int

    def median(self, phase: str) -> float:
        return statistics.median(self.phases[phase])

    def to_dict(self) -> dict:
        return {"impl": self.impl, "preset": self.preset, "warmup": self.warmup, "threads": self.threads,
                "transitions": self.transitions, "seconds": self.phases,
                "median_s": {p: self.median(p) for p in PHASES},
                "min_s": {p: min(v) for p, v in self.phases.items()},
                "max_s": {p: max(v) for p, v in self.phases.items()}}


def time_numba(cfg: TrainConfig, params: np.ndarray, warmup: int, iterations: int, preset_name: str = "",
               threads: int | None = None, on_progress=None) -> Timing:
    """`warmup` + `iterations` iterations of Numba's Trainer; the timed ones' phase times."""
    phases: dict[str, list[float]] = {p: [] for p in PHASES}
    transitions = []
    with threads_context(threads) as n_threads:
        tr = Trainer(cfg, params=np.array(params, np.float32))
        total = warmup + iterations
        for i in range(total):
            m = tr.step()
            if i >= warmup:
                for p in PHASES:
                    phases[p].append(m[f"time/{p}_s"])
                transitions.append(int(m["charts/transitions"]))
            if on_progress:
                on_progress(i + 1, total, f"numba {preset_name}")
    return Timing("numba", preset_name, phases, transitions, warmup, n_threads)


def time_c(cfg: TrainConfig, params: np.ndarray, warmup: int, iterations: int, preset_name: str = "",
           threads: int | None = None) -> Timing:
    """One `numbaplay_c train` run of `warmup` + `iterations` iterations; the timed ones' phase times."""
    import numba

    n_threads = numba.get_num_threads() if threads is None else threads
    out = run_binary("train", train_case(cfg, np.asarray(params, np.float32), warmup + iterations),
                     threads=n_threads, blas_threads=1)
    phases = {p: [float(x) for x in out[f"time.{p}"][warmup:]] for p in PHASES}
    transitions = [int(x) for x in out["log.n_transitions"][warmup:]]
    return Timing("c", preset_name, phases, transitions, warmup, n_threads)


def timing_rows(numba_t: Timing, c_t: Timing) -> list[dict]:
    """Per phase: both medians (with min and max) and the ratio Numba / C (> 1: Numba slower)."""
    rows = []
    for p in PHASES:
        nm, cm = numba_t.median(p), c_t.median(p)
        rows.append({"preset": numba_t.preset, "phase": p, "numba_median_s": nm,
                     "numba_min_s": min(numba_t.phases[p]), "numba_max_s": max(numba_t.phases[p]),
                     "c_median_s": cm, "c_min_s": min(c_t.phases[p]), "c_max_s": max(c_t.phases[p]),
                     "ratio_numba_over_c": nm / cm if cm > 0 else math.inf})
    return rows


def time_preset(cfg: TrainConfig, preset_name: str, warmup: int = 1, iterations: int = 5,
                threads: int | None = None, on_progress=None) -> dict:
    """Time both implementations on `cfg` from its initial parameters: both Timings and the rows."""
    params = init_params(net_spec(cfg), cfg.seed)
    nb = time_numba(cfg, params, warmup, iterations, preset_name, threads, on_progress)
    if on_progress:
        on_progress(0, 1, f"C {preset_name}")
    c = time_c(cfg, params, warmup, iterations, preset_name, threads)
    if on_progress:
        on_progress(1, 1, f"C {preset_name}")
    return {"preset": preset_name, "config": cfg.to_dict(), "numba": nb, "c": c, "rows": timing_rows(nb, c)}


# ---------------------------------------------------------------------------------------------------------
# Learning: both trainers from the same start, judged by the exact evaluator
# ---------------------------------------------------------------------------------------------------------
def learning_check(cfg: TrainConfig, preset_name: str = "", threads: int | None = None,
                   on_progress=None) -> dict:
    """Train `cfg.iterations` iterations in both implementations from the same initial parameters and
    evaluate both final networks with the exact Tic-Tac-Toe evaluator (SPEC section 7).

    A C build without an entropy schedule makes both runs use a constant coefficient (noted).
    """
    if cfg.game != "tictactoe":
        raise CompareError("the learning check needs the exact evaluator, which is Tic-Tac-Toe only")
    from numbaplay.agent import Agent
    from numbaplay.eval.tictactoe_exact import evaluate_tictactoe

    cfg, note = constant_entropy(cfg)
    spec = net_spec(cfg)
    params = init_params(spec, cfg.seed)
    seconds = {}
    with threads_context(threads) as n_threads:
        t0 = time.perf_counter()
        tr = Trainer(cfg, params=params.copy())
        for i in range(cfg.iterations):
            tr.step()
            if on_progress:
                on_progress(i + 1, cfg.iterations, "numba training")
        seconds["numba"] = time.perf_counter() - t0
        if on_progress:
            on_progress(0, 1, "C training")
        t0 = time.perf_counter()
        c_out = run_binary("train", train_case(cfg, params, cfg.iterations), threads=n_threads)
        seconds["c"] = time.perf_counter() - t0
        if on_progress:
            on_progress(1, 1, "C training")
        evals = {"numba": evaluate_tictactoe(Agent(cfg.game, spec, tr.params).logits_fn),
                 "c": evaluate_tictactoe(Agent(cfg.game, spec, c_out["params"]).logits_fn)}
    return {"preset": preset_name, "config": cfg.to_dict(), "iterations": cfg.iterations, "note": note,
            "seconds": seconds,
            "eval": evals, "c_params": c_out["params"], "numba_params": tr.params}


LEARNING_KEYS = ("exploitability_greedy", "exploitability_sampled", "optimal_move_rate",
                 "optimal_move_rate_all", "vs_random_win", "vs_random_loss", "vs_perfect_draw",
                 "vs_perfect_loss", "optimal")


# ---------------------------------------------------------------------------------------------------------
# Dumps and machine information
# ---------------------------------------------------------------------------------------------------------
def dump_names(parity_labels: list[str], games: list[str]) -> list[str]:
    """The file names `write_dump` will create for these kernel/train labels and replay games."""
    names = []
    for label in parity_labels:
        stem = label.replace(" ", "-")
        for part in ("kernels", "train0"):
            names += [f"{stem}-{part}-{side}.npz" for side in ("case", "numba", "c")]
    names += [f"{game}-replays-case.npz" for game in games]
    return names


def check_dump_dir(directory: Path, names: list[str]) -> None:
    """CompareError if any of the files exists already (nothing is ever overwritten)."""
    if directory.exists() and not directory.is_dir():
        raise CompareError(f"--dump {str(directory)!r} exists and is not a folder")
    existing = [n for n in names if (directory / n).exists()]
    if existing:
        raise CompareError(f"--dump {str(directory)!r} already holds {existing[0]}"
                           f"{f' and {len(existing) - 1} more' if len(existing) > 1 else ''}; "
                           "choose another folder (dumps are never overwritten)")


def _layout_arrays(spec: NetSpec | None) -> dict:
    if spec is None:
        return {}
    table = layout(spec)
    return {"layout.name": np.array([n for n, _, _ in table]),
            "layout.shape": np.array(["x".join(str(d) for d in s) for _, s, _ in table]),
            "layout.offset": np.array([o for _, _, o in table], np.int64)}


def write_dump(directory: Path, label: str, part: str, parity: Parity) -> list[Path]:
    """Write the case and both outputs of one parity check as .npz, each with the layout table."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = label.replace(" ", "-")
    written = []
    sides = {"case": parity.case, "numba": parity.numba_out, "c": parity.c_out}
    if part == "replays":
        sides = {"case": parity.case}
    for side, tensors in sides.items():
        path = directory / f"{stem}-{part}-{side}.npz"
        if path.exists():
            raise CompareError(f"{path} exists; dumps are never overwritten")
        arrays = {k: np.asarray(v) for k, v in tensors.items()}
        arrays.update(_layout_arrays(parity.spec))
        with open(path, "xb") as fh:
            np.savez(fh, **arrays)
        written.append(path)
    return written


def machine_info(threads: int | None = None) -> dict:
    """CPU, cores, load, library versions, the BLAS and the thread settings of a comparison."""
    import numba

    info = {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "numba": numba.__version__, "numpy": np.__version__,
            "numba_threads": threads if threads is not None else numba.get_num_threads(),
            "blas_threads": 1}
    info["cpu"] = cpu_model()
    with contextlib.suppress(OSError):
        info["load_average"] = list(os.getloadavg())
    with contextlib.suppress(NumbaplayError):
        blas = find_blas()
        info["c_blas"] = f"{blas['kind']} ({blas['lib']})"
    from numbaplay.nn.blas import kernel_blas_info

    kb = kernel_blas_info()
    info["numba_blas"] = f"{kb['name']} ({kb['version']})"
    return info


@dataclass
class Summary:
    """Everything one `compare-c` run found, for printing, JSON and the PDF."""

    parity: list[Parity] = field(default_factory=list)
    timing: list[dict] = field(default_factory=list)
    learning: dict | None = None
    machine: dict = field(default_factory=dict)

    @property
    def rows(self) -> list[Row]:
        return [r for p in self.parity for r in p.rows]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def to_dict(self) -> dict:
        out = {"ok": self.ok, "machine": self.machine,
               "tolerances": {"elem_ulps": ELEM_ULPS, "blas_rtol": BLAS_RTOL, "blas_atol": BLAS_ATOL,
                              "stats_rtol": STATS_RTOL, "stats_atol": STATS_ATOL, "r_margin": R_MARGIN},
               "parity": [r.to_dict() for r in self.rows],
               "timing": [{"preset": t["preset"], "config": t["config"], "rows": t["rows"],
                           "numba": t["numba"].to_dict(), "c": t["c"].to_dict()} for t in self.timing]}
        if self.learning is not None:
            out["learning"] = {k: v for k, v in self.learning.items() if not k.endswith("_params")}
        return out


# ---------------------------------------------------------------------------------------------------------
# PDF report
# ---------------------------------------------------------------------------------------------------------
def check_summary(rows: list[Row]) -> list[dict]:
    """Per check: tensors judged, how many NOT OK, the worst blas max_rel and ulp distance, info rows."""
    out: dict[str, dict] = {}
    for r in rows:
        c = out.setdefault(r.check, {"check": r.check, "judged": 0, "not_ok": 0, "worst_blas_rel": None,
                                     "worst_ulp": None, "info": 0})
        if r.kind == "info":
            c["info"] += 1
            continue
        c["judged"] += 1
        c["not_ok"] += 0 if r.ok else 1
        if r.kind == "blas":
            c["worst_blas_rel"] = max(c["worst_blas_rel"] or 0.0, r.max_rel)
        if r.max_ulp is not None:
            c["worst_ulp"] = max(c["worst_ulp"] or 0.0, r.max_ulp)
    return list(out.values())


def timing_figure(timing: list[dict]):
    """Grouped bars of the median seconds per phase, Numba beside C, one panel per timed preset."""
    from numbaplay.report import pdf as P

    fig = P.new_figure(7.5, 2.2 * len(timing))
    for i, t in enumerate(timing):
        ax = fig.add_subplot(len(timing), 1, i + 1)
        x = np.arange(len(PHASES))
        for shift, impl, label in ((-0.2, "numba", "Numba"), (0.2, "c", "C")):
            med = [r[f"{impl}_median_s"] for r in t["rows"]]
            lo = [r[f"{impl}_median_s"] - r[f"{impl}_min_s"] for r in t["rows"]]
            hi = [r[f"{impl}_max_s"] - r[f"{impl}_median_s"] for r in t["rows"]]
            ax.bar(x + shift, med, 0.4, yerr=[lo, hi], capsize=3, label=label)
        ax.set_xticks(x, [f"{p}\nNumba/C {r['ratio_numba_over_c']:.2f}" for p, r in zip(PHASES, t["rows"],
                                                                                      strict=True)])
        ax.set_ylabel("seconds (median)")
        ax.set_title(f"{t['preset']}: {len(t['numba'].phases['iteration'])} timed iterations, bars min-max",
                     fontsize=9)
        ax.legend(fontsize=8)
    return fig


def write_pdf(summary: Summary, path: Path, title: str = "numbaplay: Numba against the C reference") -> Path:
    """A PDF with the parity table, a per-phase timing bar chart and the machine information."""
    from numbaplay.report import pdf as P

    doc = P.new_document(title, time.strftime("%Y-%m-%d %H:%M:%S") + "  -  " + ("all parity checks OK"
                                                                                 if summary.ok else
                                                                                 "PARITY FAILURES"))
    P.heading(doc, "Tolerance model (SPEC section 8)")
    P.bullets(doc, [
        "exact: integer outputs (replays, random streams, layout, iteration 0's games and transitions)",
        f"ulp: elementwise float32 kernels on identical inputs within {ELEM_ULPS} ulp",
        f"blas: max|a-b| <= {BLAS_RTOL:g} max|b| + {BLAS_ATOL:g} per tensor (a Numba, b C)",
        f"stats: a short iteration's logged means, {STATS_RTOL:g} max|b| + {STATS_ATOL:g}",
        "info: not judged (a full preset's iteration, chaotic after hundreds of Adam steps)",
        f"margin: every parity ratio r at least {R_MARGIN:g} from 1 - eps and 1 + eps",
    ], size=8)
    P.heading(doc, "Parity by check")
    P.table(doc, ["check", "judged", "NOT OK", "worst blas max rel", "worst ulp", "info rows"],
            [[c["check"], c["judged"], c["not_ok"], c["worst_blas_rel"], c["worst_ulp"], c["info"]]
             for c in check_summary(summary.rows)], col_widths=[6, 1.3, 1.3, 2, 1.5, 1.3], size=7)
    P.heading(doc, "Parity, tensor by tensor")
    rows = [[r.check, r.tensor, r.kind, f"{r.max_abs:.3g}", f"{r.max_rel:.3g}",
             "" if r.max_ulp is None else f"{r.max_ulp:g}", r.tolerance(), "OK" if r.ok else "NOT OK"]
            for r in summary.rows]
    P.table(doc, ["check", "tensor", "kind", "max abs", "max rel", "ulp", "tolerance", ""], rows,
            col_widths=[5, 5, 1.4, 1.8, 1.8, 1, 4, 1.4], size=6)
    if summary.timing:
        P.heading(doc, "Speed: median seconds per phase (BLAS on one thread)")
        trows = [[r["preset"], r["phase"], f"{r['numba_median_s']:.4g}", f"{r['c_median_s']:.4g}",
                  f"{r['ratio_numba_over_c']:.2f}"] for t in summary.timing for r in t["rows"]]
        P.table(doc, ["preset", "phase", "Numba s", "C s", "Numba / C"], trows, size=8)
        fig = timing_figure(summary.timing)
        P.add_figure(doc, fig, "Median wall seconds per phase of one training iteration.")
    if summary.learning is not None:
        lr = summary.learning
        P.heading(doc, f"Learning: {lr['iterations']} iterations from the same start")
        if lr["note"]:
            P.paragraph(doc, lr["note"], size=8)
        P.table(doc, ["metric", "Numba", "C"],
                [[k, lr["eval"]["numba"][k], lr["eval"]["c"][k]] for k in LEARNING_KEYS], size=8)
    P.heading(doc, "Machine")
    P.key_value_table(doc, list(summary.machine.items()), pairs_per_row=2, size=7)
    return P.save(doc, path)
