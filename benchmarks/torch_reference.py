"""Idiomatic PyTorch (CPU) reference of one numbaplay training iteration, for speed comparisons.

The iteration is the one numbaplay runs (SPEC sections 3-6), written the way a competent PyTorch user
would write it, neither deliberately slow nor hand-tuned:

- games: Tic-Tac-Toe and Connect Four as vectorised NumPy boards over all games at once (int8
  [G, cells + 1], the last column an always-empty pad that win checks point at), planar float32
  observations from the side to move (plane 0 its stones, plane 1 the opponent's; Connect Four cell
  index row * 7 + col with row 0 the bottom, as `numbaplay.games`), legal-move masks, and win detection
  by checking, for the games that moved, every line through the cell just played;
- networks: `mlp` (L x Linear+ReLU) and `resmlp` (input Linear, L-1 pre-LayerNorm residual blocks
  h + gelu(Linear(LN(h))) with the tanh GELU, a final LayerNorm), policy head Linear(H, A) and value head
  tanh(Linear(H, 1)); PyTorch's default Linear initialisation (uniform, bound 1/sqrt(fan_in), as
  numbaplay's), policy weights scaled by 0.01 and head biases zeroed (as numbaplay's);
- rollout: the preset's games_per_iter games in lockstep, the learner on seat g % 2 of game g, each game's
  opponent drawn uniformly from the pool; per step one batched forward for every learner-to-move game and
  one per pool entry for the games it plays, under `torch.inference_mode()`; masked softmax and
  `torch.multinomial`; transitions kept per game ([G, T] slots), reward +1 / -1 / draw_reward on the
  learner's last transition;
- GAE(gamma, lambda) per game, vectorised over games backwards in time, then advantage normalisation
  over the iteration (population std, + 1e-8);
- update: `epochs` passes over `torch.randperm` minibatches (ceil(N / batch_size) of them, sizes differing
  by at most one, as numbaplay), clipped policy loss + vf_coef * value MSE - ent_coef * entropy,
  `clip_grad_norm_`, `torch.optim.Adam(foreach=True)`.

The pool: `--pool full` (default) fills it with pool_size copies of the learner, each perturbed by
N(0, 1e-3) noise, so every opponent batch is a distinct network (the steady state of a long run);
`--pool grow` keeps numbaplay's schedule (start with the learner, snapshot every snapshot_interval,
drop the oldest but the first when over pool_size), which is what early training (and
`numbaplay profile` from iteration 0) sees: a pool of one. `bench_torch_vs_numba.py` uses `grow` by default
so that both sides do the same work.

Measure on a quiet machine: with 2 threads on 2 cores, PyTorch's OpenMP threads spin-wait, and one other
busy process slows an iteration down tens of times (OMP_WAIT_POLICY=PASSIVE avoids most of that).

    .venv/bin/python benchmarks/torch_reference.py --preset ttt-seed --threads 2 --warmup 1 --iterations 5 --json
    .venv/bin/python benchmarks/torch_reference.py --preset ttt-seed --learn 40     # learning sanity check

Counts: transitions per iteration, and the update's GEMM FLOPs exactly as PyTorch runs them: per row
2 * in * out for every Linear forward (value head included), 2 * in * out for every weight gradient and
for every input gradient except the first layer's (the observation needs none).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from numbaplay.presets import PRESETS  # noqa: E402
from numbaplay.profile.machine import uptime  # noqa: E402

NEG = -1e9  # masked logit: exp underflows to exactly 0, and 0 * NEG stays finite in the entropy


# -- games ------------------------------------------------------------------------------------------------

def _lines(rows: int, cols: int, k: int) -> list[list[int]]:
    """Every k-in-a-row of a rows x cols board, cells indexed row * cols + col."""
    out = []
    for r in range(rows):
        for c in range(cols):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(r + i * dr, c + i * dc) for i in range(k)]
                if all(0 <= rr < rows and 0 <= cc < cols for rr, cc in cells):
                    out.append([rr * cols + cc for rr, cc in cells])
    return out


class VecGame:
    """All G games of a kind at once: board int8 [G, cells + 1] (0 empty, 1 first player, 2 second)."""

    def __init__(self, name: str):
        self.name = name
        if name == "tictactoe":
            self.rows, self.cols, k, self.n_actions = 3, 3, 3, 9
        elif name == "connect4":
            self.rows, self.cols, k, self.n_actions = 6, 7, 4, 7
        else:
            raise ValueError(f"unknown game {name!r}")
        self.n_cells = self.rows * self.cols
        self.obs_size = 2 * self.n_cells
        self.max_plies = self.n_cells
        self.max_learner_moves = (self.max_plies + 1) // 2
        lines = _lines(self.rows, self.cols, k)
        through = [[ln for ln in lines if c in ln] for c in range(self.n_cells)]
        width = max(len(t) for t in through)
        pad = [self.n_cells] * k  # the pad column is never set, so a padded line never wins
        self.lines_through = np.array([t + [pad] * (width - len(t)) for t in through], dtype=np.int64)

    def reset(self, n: int) -> None:
        self.board = np.zeros((n, self.n_cells + 1), np.int8)
        self.ply = np.zeros(n, np.int64)
        self.status = np.zeros(n, np.int8)  # 0 on, 1 first player won, 2 second won, 3 draw
        if self.name == "connect4":
            self.height = np.zeros((n, self.cols), np.int64)

    def observe(self) -> np.ndarray:
        """float32 [G, 2 cells]: plane 0 the side to move's stones, plane 1 the opponent's."""
        cells = self.board[:, :self.n_cells]
        stone = (self.ply % 2 + 1).astype(np.int8)[:, None]
        mine = cells == stone
        theirs = (cells != 0) & ~mine
        return np.concatenate([mine, theirs], axis=1).astype(np.float32)

    def legal(self) -> np.ndarray:
        """bool [G, A]."""
        if self.name == "tictactoe":
            return self.board[:, :self.n_cells] == 0
        return self.height < self.rows

    def play(self, idx: np.ndarray, actions: np.ndarray) -> None:
        """Play actions[i] in game idx[i] (all on, all legal) and update ply and status."""
        stone = (self.ply[idx] % 2 + 1).astype(np.int8)
        if self.name == "tictactoe":
            cell = actions
        else:
            cell = self.height[idx, actions] * self.cols + actions
            self.height[idx, actions] += 1
        self.board[idx, cell] = stone
        self.ply[idx] += 1
        lines = self.board[idx[:, None, None], self.lines_through[cell]]  # [n, lines through cell, k]
        won = (lines == stone[:, None, None]).all(-1).any(-1)
        full = self.ply[idx] == self.max_plies
        self.status[idx] = np.where(won, stone, np.where(full, 3, 0))


# -- networks ---------------------------------------------------------------------------------------------

class ResBlock(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.ln = nn.LayerNorm(hidden)
        self.fc = nn.Linear(hidden, hidden)

    def forward(self, h):
        return h + F.gelu(self.fc(self.ln(h)), approximate="tanh")


class PolicyValueNet(nn.Module):
    def __init__(self, arch: str, obs_size: int, hidden: int, depth: int, n_actions: int):
        super().__init__()
        if arch == "mlp":
            layers = []
            for k in range(depth):
                layers += [nn.Linear(obs_size if k == 0 else hidden, hidden), nn.ReLU()]
            self.body = nn.Sequential(*layers)
        elif arch == "resmlp":
            self.body = nn.Sequential(nn.Linear(obs_size, hidden), *[ResBlock(hidden) for _ in range(depth - 1)],
                                      nn.LayerNorm(hidden))
        else:
            raise ValueError(f"unknown architecture {arch!r}")
        self.pi = nn.Linear(hidden, n_actions)
        self.v = nn.Linear(hidden, 1)
        with torch.no_grad():
            self.pi.weight.mul_(0.01)
            self.pi.bias.zero_()
            self.v.bias.zero_()

    def forward(self, x):
        y = self.body(x)
        return self.pi(y), torch.tanh(self.v(y)).squeeze(-1)


def linear_shapes(net: nn.Module) -> list[tuple[int, int]]:
    """(in, out) of every Linear, in forward order (body, policy head, value head)."""
    return [(m.in_features, m.out_features) for m in net.modules() if isinstance(m, nn.Linear)]


def gemm_flops_per_row(net: nn.Module) -> tuple[int, int]:
    """(forward, backward) GEMM FLOPs per row: backward forms every weight gradient and every input
    gradient but the first layer's."""
    shapes = linear_shapes(net)
    fwd = sum(2 * i * o for i, o in shapes)
    first = shapes[0]
    bwd = fwd + sum(2 * i * o for i, o in shapes) - 2 * first[0] * first[1]
    return fwd, bwd


# -- the iteration ----------------------------------------------------------------------------------------

@torch.inference_mode()
def act(net: nn.Module, obs: np.ndarray, mask: np.ndarray, temperature: float, learner: bool):
    """Sample one action per row from the masked policy; for the learner also log-prob and value."""
    logits, value = net(torch.from_numpy(obs))
    logits = logits.masked_fill(~torch.from_numpy(mask), NEG)
    probs = torch.softmax(logits if temperature == 1.0 else logits / temperature, dim=-1)
    a = torch.multinomial(probs, 1).squeeze(1)
    if not learner:
        return a.numpy(), None, None
    logp = torch.log_softmax(logits, dim=-1).gather(1, a[:, None]).squeeze(1)
    return a.numpy(), logp.numpy(), value.numpy()


def ppo_loss(logits, value, mask, action, logp_old, adv, ret, clip: float, vf: float, ent_c: float):
    """Clipped PPO loss + vf * value MSE - ent_c * entropy of the masked policy (minibatch means).

    Returns (loss, detached [policy, value, entropy, approx_kl, clip_frac])."""
    logits = logits.masked_fill(~mask, NEG)
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(1, action[:, None]).squeeze(1)
    log_ratio = logp - logp_old
    ratio = torch.exp(log_ratio)
    pg_loss = -torch.min(ratio * adv, ratio.clamp(1.0 - clip, 1.0 + clip) * adv).mean()
    v_loss = (value - ret).pow(2).mean()
    entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
    loss = pg_loss + vf * v_loss - ent_c * entropy
    with torch.no_grad():
        kl = ((ratio - 1) - log_ratio).mean()
        clipped = ((ratio - 1).abs() > clip).float().mean()
        parts = torch.stack([pg_loss, v_loss, entropy, kl, clipped])
    return loss, parts


class TorchTrainer:
    def __init__(self, preset: str, seed: int = 0, pool_mode: str = "full", games: int | None = None):
        self.cfg = cfg = dict(PRESETS[preset])
        if games is not None:
            cfg["games_per_iter"] = games
        self.preset = preset
        self.game = VecGame(cfg["game"])
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        g = self.game
        self.net = PolicyValueNet(cfg["arch"], g.obs_size, cfg["hidden"], cfg["depth"], g.n_actions)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg["lr"], eps=1e-8, foreach=True)
        self.pool_mode = pool_mode
        if pool_mode == "full":
            self.pool = []
            for _ in range(cfg["pool_size"]):
                entry = copy.deepcopy(self.net)
                with torch.no_grad():
                    for p in entry.parameters():
                        p.add_(torch.randn_like(p), alpha=1e-3)
                self.pool.append(entry)
        elif pool_mode == "grow":
            self.pool = [copy.deepcopy(self.net)]
        else:
            raise ValueError(f"unknown pool mode {pool_mode!r}")
        for entry in self.pool:
            entry.requires_grad_(False)
        self.iteration = 0
        self.fwd_flops, self.bwd_flops = gemm_flops_per_row(self.net)

    # rollout -------------------------------------------------------------------------------------------
    def rollout(self) -> dict:
        cfg, game = self.cfg, self.game
        n_games, t_max = cfg["games_per_iter"], game.max_learner_moves
        game.reset(n_games)
        seat = np.arange(n_games) % 2
        opponent = self.rng.integers(0, len(self.pool), n_games)
        obs_buf = np.zeros((n_games, t_max, game.obs_size), np.float32)
        mask_buf = np.zeros((n_games, t_max, game.n_actions), bool)
        act_buf = np.zeros((n_games, t_max), np.int64)
        logp_buf = np.zeros((n_games, t_max), np.float32)
        val_buf = np.zeros((n_games, t_max), np.float32)
        count = np.zeros(n_games, np.int64)
        actions = np.zeros(n_games, np.int64)
        rows = calls = 0
        for _ in range(game.max_plies):
            active = game.status == 0
            if not active.any():
                break
            obs, mask = game.observe(), game.legal()
            learner_turn = active & (game.ply % 2 == seat)
            li = np.flatnonzero(learner_turn)
            if li.size:
                a, logp, v = act(self.net, obs[li], mask[li], 1.0, learner=True)
                t = count[li]
                obs_buf[li, t] = obs[li]
                mask_buf[li, t] = mask[li]
                act_buf[li, t] = a
                logp_buf[li, t] = logp
                val_buf[li, t] = v
                count[li] += 1
                actions[li] = a
                rows += li.size
                calls += 1
            oi = np.flatnonzero(active & ~learner_turn)
            if oi.size:
                entries = opponent[oi]
                for j in np.unique(entries):
                    sel = oi[entries == j]
                    a, _, _ = act(self.pool[j], obs[sel], mask[sel], self.cfg["opp_temperature"], learner=False)
                    actions[sel] = a
                    rows += sel.size
                    calls += 1
            ai = np.flatnonzero(active)
            game.play(ai, actions[ai])
        status = game.status
        win = status == seat + 1
        loss = status == 2 - seat
        result = np.where(win, 1, np.where(loss, -1, 0))
        reward = np.zeros((n_games, t_max), np.float32)
        last = count - 1
        reward[np.arange(n_games), last] = np.where(win, 1.0, np.where(loss, -1.0, cfg["draw_reward"]))
        return dict(obs=obs_buf, mask=mask_buf, action=act_buf, logp=logp_buf, value=val_buf, reward=reward,
                    count=count, result=result, rollout_rows=rows, forward_calls=calls)

    # GAE -----------------------------------------------------------------------------------------------
    def advantages(self, ro: dict) -> dict:
        gamma, lam = self.cfg["gamma"], self.cfg["gae_lambda"]
        value, reward, count = ro["value"], ro["reward"], ro["count"]
        n_games, t_max = value.shape
        adv = np.zeros((n_games, t_max), np.float32)
        running = np.zeros(n_games, np.float32)
        for t in range(t_max - 1, -1, -1):
            terminal = t == count - 1
            next_v = np.zeros(n_games, np.float32) if t == t_max - 1 else value[:, t + 1]
            next_v = np.where(terminal, 0.0, next_v)
            running = np.where(terminal, 0.0, running)
            delta = reward[:, t] + gamma * next_v - value[:, t]
            running = (delta + gamma * lam * running).astype(np.float32)
            adv[:, t] = np.where(t < count, running, 0.0)
        valid = np.arange(t_max)[None, :] < count[:, None]  # game-major, ply order
        a = adv[valid]
        ret = a + value[valid]
        a64 = a.astype(np.float64)
        adv_n = ((a64 - a64.mean()) / (a64.std() + 1e-8)).astype(np.float32)
        return dict(obs=ro["obs"][valid], mask=ro["mask"][valid], action=ro["action"][valid],
                    logp=ro["logp"][valid], adv=adv_n, ret=ret.astype(np.float32))

    # update --------------------------------------------------------------------------------------------
    def update(self, buf: dict) -> dict:
        cfg = self.cfg
        obs = torch.from_numpy(buf["obs"])
        mask = torch.from_numpy(buf["mask"])
        action = torch.from_numpy(buf["action"])
        logp_old = torch.from_numpy(buf["logp"])
        adv = torch.from_numpy(buf["adv"])
        ret = torch.from_numpy(buf["ret"])
        n = obs.shape[0]
        n_batches = max(1, math.ceil(n / cfg["batch_size"]))
        clip, vf, ent_c = cfg["clip_eps"], cfg["vf_coef"], cfg["ent_coef"]
        params = list(self.net.parameters())
        logs = []
        for _ in range(cfg["epochs"]):
            for idx in torch.randperm(n).tensor_split(n_batches):
                logits, value = self.net(obs[idx])
                loss, parts = ppo_loss(logits, value, mask[idx], action[idx], logp_old[idx], adv[idx], ret[idx],
                                       clip, vf, ent_c)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                norm = nn.utils.clip_grad_norm_(params, cfg["max_grad_norm"])
                self.opt.step()
                logs.append(torch.cat([parts, norm.detach()[None]]))
        stats = torch.stack(logs).mean(0).tolist()
        return dict(zip(("policy", "value", "entropy", "approx_kl", "clip_frac", "grad_norm"), stats),
                    steps=len(logs))

    def snapshot(self) -> None:
        """numbaplay's pool schedule (grow mode only)."""
        c = self.cfg
        if self.pool_mode == "grow" and (self.iteration + 1) % c["snapshot_interval"] == 0:
            entry = copy.deepcopy(self.net).requires_grad_(False)
            self.pool.append(entry)
            if len(self.pool) > c["pool_size"]:
                del self.pool[1]

    def step(self) -> dict:
        c0 = time.process_time()
        t0 = time.perf_counter()
        ro = self.rollout()
        t1 = time.perf_counter()
        buf = self.advantages(ro)
        t2 = time.perf_counter()
        stats = self.update(buf)
        t3 = time.perf_counter()
        cpu = time.process_time() - c0
        self.snapshot()
        self.iteration += 1
        n = int(buf["adv"].shape[0])
        rows = self.cfg["epochs"] * n
        return {"rollout_s": t1 - t0, "gae_s": t2 - t1, "update_s": t3 - t2, "iteration_s": t3 - t0,
                "iteration_cpu_s": cpu, "transitions": n, "update_steps": stats.pop("steps"),
                "rollout_rows": ro["rollout_rows"],
                "forward_calls": ro["forward_calls"], "rollout_gemm_flops": ro["rollout_rows"] * self.fwd_flops,
                "update_gemm_flops": rows * (self.fwd_flops + self.bwd_flops), "losses": stats,
                "learner_win": float(np.mean(ro["result"] == 1)), "learner_draw": float(np.mean(ro["result"] == 0)),
                "learner_loss": float(np.mean(ro["result"] == -1))}


# -- evaluation against a uniform random player (learning sanity check) ---------------------------------

@torch.inference_mode()
def eval_vs_random(net: nn.Module, game_name: str, n_games: int, rng: np.random.Generator) -> dict:
    """Greedy learner on seat g % 2 of game g against a uniformly random player."""
    game = VecGame(game_name)
    game.reset(n_games)
    seat = np.arange(n_games) % 2
    for _ in range(game.max_plies):
        active = game.status == 0
        if not active.any():
            break
        obs, mask = game.observe(), game.legal()
        actions = np.argmax(np.where(mask, rng.random(mask.shape), -1.0), axis=1)  # uniform random legal
        li = np.flatnonzero(active & (game.ply % 2 == seat))
        if li.size:
            logits, _ = net(torch.from_numpy(obs[li]))
            actions[li] = logits.masked_fill(~torch.from_numpy(mask[li]), NEG).argmax(1).numpy()
        ai = np.flatnonzero(active)
        game.play(ai, actions[ai])
    win = game.status == seat + 1
    loss = game.status == 2 - seat
    return {"win": float(win.mean()), "draw": float((~win & ~loss).mean()), "loss": float(loss.mean())}


# -- CLI --------------------------------------------------------------------------------------------------

def measure(args) -> dict:
    start_load = uptime()
    t0 = time.perf_counter()
    tr = TorchTrainer(args.preset, seed=args.seed, pool_mode=args.pool, games=args.games)
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(args.warmup):
        tr.step()
    warmup_s = time.perf_counter() - t0
    runs = [tr.step() for _ in range(args.iterations)]
    med = statistics.median
    phases = ("rollout", "gae", "update")
    it = med(r["iteration_s"] for r in runs)
    update_flops = med(r["update_gemm_flops"] for r in runs)
    update_s = med(r["update_s"] for r in runs)
    cfg = tr.cfg
    return {
        "implementation": "torch", "preset": args.preset, "game": cfg["game"], "arch": cfg["arch"],
        "hidden": cfg["hidden"], "depth": cfg["depth"], "games_per_iter": cfg["games_per_iter"],
        "threads": args.threads, "torch_num_threads": torch.get_num_threads(), "torch_version": torch.__version__,
        "numpy_version": np.__version__, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_mkl": torch.backends.mkl.is_available(), "torch_cuda_build": torch.version.cuda is not None,
        "warmup": args.warmup, "iterations": args.iterations,
        "pool_mode": args.pool, "pool_entries": len(tr.pool), "seed": args.seed,
        "iteration_s": it, "iteration_times_s": [r["iteration_s"] for r in runs],
        "iteration_cpu_s": med(r["iteration_cpu_s"] for r in runs),
        "iteration_cpu_times_s": [r["iteration_cpu_s"] for r in runs],
        "phases": {p: med(r[f"{p}_s"] for r in runs) for p in phases},
        "phase_times_s": {p: [r[f"{p}_s"] for r in runs] for p in phases},
        "transitions_per_iter": med(r["transitions"] for r in runs),
        "transitions": [r["transitions"] for r in runs],
        "update_steps_per_iter": med(r["update_steps"] for r in runs),
        "rollout_rows_per_iter": med(r["rollout_rows"] for r in runs),
        "forward_calls_per_iter": med(r["forward_calls"] for r in runs),
        "rollout_gflop": med(r["rollout_gemm_flops"] for r in runs) / 1e9,
        "update_gflop": update_flops / 1e9,
        "update_gflop_per_s": update_flops / 1e9 / update_s,
        "gemm_flops_per_row": {"forward": tr.fwd_flops, "backward": tr.bwd_flops},
        "losses_last": runs[-1]["losses"],
        "setup_s": setup_s, "warmup_s": warmup_s,
        "uptime_start": start_load, "uptime_end": uptime(),
        "command": " ".join([sys.executable, *sys.argv]),
    }


def learn(args) -> int:
    """Train --learn iterations (numbaplay's growing pool) and report the win rate against random play."""
    tr = TorchTrainer(args.preset, seed=args.seed, pool_mode="grow", games=args.games)
    rng = np.random.default_rng(args.seed + 1)
    game = tr.cfg["game"]
    print(f"iter 0: vs random {eval_vs_random(tr.net, game, 2000, rng)}", flush=True)
    for i in range(args.learn):
        m = tr.step()
        if (i + 1) % args.eval_every == 0 or i + 1 == args.learn:
            ev = eval_vs_random(tr.net, game, 2000, rng)
            loss = {k: round(v, 4) for k, v in m["losses"].items()}
            print(f"iter {i + 1}: {m['iteration_s'] * 1e3:.0f} ms, {m['transitions']} transitions, selfplay W/D/L "
                  f"{m['learner_win']:.2f}/{m['learner_draw']:.2f}/{m['learner_loss']:.2f}, losses {loss}, "
                  f"vs random {ev}", flush=True)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="ttt-seed", choices=sorted(PRESETS))
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    ap.add_argument("--iterations", type=int, default=5, help="timed iterations (medians reported)")
    ap.add_argument("--pool", choices=("full", "grow"), default="full",
                    help="full: pool_size perturbed copies of the learner; grow: numbaplay's schedule from one entry")
    ap.add_argument("--games", type=int, default=None, help="override games per iteration")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--learn", type=int, default=0, help="instead: train this many iterations, eval vs random")
    ap.add_argument("--eval-every", type=int, default=10)
    args = ap.parse_args(argv)
    if args.iterations < 1 or args.warmup < 0 or args.threads < 1:
        ap.error("--iterations and --threads must be >= 1, --warmup >= 0")
    torch.set_num_threads(args.threads)
    if args.learn:
        return learn(args)
    res = measure(args)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"{res['preset']} torch {res['torch_version']}, {res['threads']} threads, pool {res['pool_entries']} "
          f"({res['pool_mode']}): iteration {res['iteration_s'] * 1e3:.1f} ms (median of {res['iterations']}); "
          + ", ".join(f"{p} {s * 1e3:.1f} ms" for p, s in res["phases"].items()))
    print(f"  {res['transitions_per_iter']} transitions, {res['update_steps_per_iter']} minibatch steps, update "
          f"{res['update_gflop']:.2f} GFLOP ({res['update_gflop_per_s']:.1f} GFLOP/s), rollout "
          f"{res['rollout_rows_per_iter']} rows in {res['forward_calls_per_iter']} forward calls")
    print(f"  load: {res['uptime_start']} -> {res['uptime_end']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
