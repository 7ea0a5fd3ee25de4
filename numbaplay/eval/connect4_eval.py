"""Strength of a Connect Four agent (SPEC section 7): Elo against the stored ladder, and mistake rates.

- **Elo**: the agent plays greedily (argmax of the legal logits, ties to the lowest column) a match
  against every ladder member (`numbaplay.eval.ladder.play_match`: the 49 two-ply openings, both
  colours, `repeats` times against a stochastic member), and its rating is fitted alone against the
  members' stored ratings (`numbaplay.eval.elo.fit_player`), with a 95% percentile-bootstrap interval
  over openings, or a one-sided bound ("> R" / "< R") after a perfect or zero score.
- **Mistake rate** per Pons test set: the share of the set's positions where the greedy move has a
  strictly worse outcome (win > draw > loss, a move that wins on the spot counting as a win) than
  another legal move; beside it, the number of positions where a mistake was possible at all (some
  legal move is worse than the best). Outcomes of every legal move come from the solver's `analyze`
  (weak mode: only the sign is needed) and are cached on disk per set, row by row, in
  `$NUMBAPLAY_CACHE/pons-outcomes-v1/` (default `~/.cache/numbaplay/`), so that only the first
  evaluation pays for them. Measured cost per position (one core of a shared machine, weak solve of
  every move): End-Easy and Middle-Easy under 1 ms, Middle-Medium 0.03 s, Begin-Medium 0.1-0.5 s,
  Begin-Easy 1-3 s, Begin-Hard 10-30 s, so the full Begin-Hard table takes hours once; `pons_limit`
  takes the first N positions of each set (and only those are solved).

The Pons data are evaluation data only; they live in `$NUMBAPLAY_C4_DATA` (default
`../shared/data/connect4` beside the repository).
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np

import numbaplay
from numbaplay.errors import ConfigError
from numbaplay.eval import elo
from numbaplay.eval.ladder import DEFAULT_REPEATS, DEFAULT_RESAMPLES, load_ladder, play_match
from numbaplay.eval.players import AgentPlayer, greedy_actions, make_player
from numbaplay.games.core import CONNECT4, get_game, legal_mask, observe, parse_position

PONS_SETS = {
    "end-easy": "Test_L3_R1",
    "middle-easy": "Test_L2_R1",
    "middle-medium": "Test_L2_R2",
    "begin-easy": "Test_L1_R1",
    "begin-medium": "Test_L1_R2",
    "begin-hard": "Test_L1_R3",
}
"""Set name (used in metric keys) -> file name in the Pons data folder."""
DEFAULT_PONS_SETS = tuple(PONS_SETS)
OUTCOME_CACHE_VERSION = "pons-outcomes-v1"
ILLEGAL = -2
UNKNOWN = -3
WIN, DRAW, LOSS = 1, 0, -1

_players: dict = {}  # reference players kept between evaluations (the perfect player's cache)
_solver = None


def data_dir() -> Path:
    """Folder of the Pons test sets: $NUMBAPLAY_C4_DATA, else ../shared/data/connect4 beside the repo."""
    env = os.environ.get("NUMBAPLAY_C4_DATA")
    if env:
        return Path(env)
    return Path(numbaplay.__file__).resolve().parents[2] / "shared" / "data" / "connect4"


def cache_dir() -> Path:
    """Folder of the per-set outcome tables: $NUMBAPLAY_CACHE, else ~/.cache/numbaplay."""
    env = os.environ.get("NUMBAPLAY_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "numbaplay"
    return base / OUTCOME_CACHE_VERSION


def _set_file(name: str) -> Path:
    key = name.lower()
    if key not in PONS_SETS:
        by_file = {v.lower(): k for k, v in PONS_SETS.items()}
        if key not in by_file:
            raise ConfigError(f"unknown Pons set {name!r}; choose from {', '.join(PONS_SETS)}")
        key = by_file[key]
    path = data_dir() / PONS_SETS[key]
    if not path.exists():
        raise ConfigError(f"Pons test set {path} not found; set NUMBAPLAY_C4_DATA to the folder holding "
                          f"{', '.join(PONS_SETS.values())}")
    return path


def set_name(name: str) -> str:
    """Canonical (lower-case) name of a Pons set given by name or file name."""
    key = name.lower()
    return key if key in PONS_SETS else {v.lower(): k for k, v in PONS_SETS.items()}.get(key, key)


def load_pons_set(name: str) -> tuple[list[str], np.ndarray]:
    """The positions (move strings) and exact scores (int64) of a Pons set."""
    moves, scores = [], []
    for line in _set_file(name).read_text().splitlines():
        if line.strip():
            m, s = line.split()
            moves.append(m)
            scores.append(int(s))
    return moves, np.array(scores, dtype=np.int64)


def move_outcomes(moves: str, solver=None) -> np.ndarray:
    """int8[7]: outcome for the side to move of playing each column (1 win, 0 draw, -1 loss, -2 illegal)."""
    global _solver
    if solver is None:
        if _solver is None:
            from numbaplay.eval.solver import Solver

            _solver = Solver()
        solver = _solver
    scores = solver.analyze(moves, weak=True)
    return np.array([ILLEGAL if s is None else int(np.sign(s)) for s in scores], dtype=np.int8)


SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / OUTCOME_CACHE_VERSION
"""Outcome tables computed once with the solver and shipped with the package (rows not yet computed
hold UNKNOWN): all of End-Easy, Middle-Easy, Middle-Medium and Begin-Medium, the first 100 positions
of Begin-Easy and the first 42 of Begin-Hard (10 to 200 s a position to solve)."""
DEFAULT_LIMITS = {"begin-easy": 100, "begin-hard": 40}
"""Per-set position limits of a default evaluation: what the shipped tables cover, so that evaluating
never has to solve for hours first. Pass pons_limit=None to use (and compute) whole sets."""


def _shipped_table(file_name: str, n_rows: int) -> np.ndarray:
    """The packaged outcome table for this exact set file (same content hash), else all UNKNOWN."""
    path = SHIPPED_DIR / file_name
    if path.exists():
        try:
            table = np.load(path)
            if table.shape == (n_rows, 7) and table.dtype == np.int8:
                return table.copy()
        except (OSError, ValueError):
            pass
    return np.full((n_rows, 7), UNKNOWN, dtype=np.int8)


def outcome_table(name: str, limit: int | None = None, progress=None) -> np.ndarray:
    """int8[n, 7]: `move_outcomes` of the first `limit` positions of a set (all if None), from the cache.

    Missing rows are computed and the cache file rewritten (atomically) at least every 30 seconds.
    progress: optional callable(done, total, label).
    """
    path = _set_file(name)
    raw = path.read_bytes()
    moves = [ln.split()[0] for ln in raw.decode().splitlines() if ln.strip()]
    n = len(moves) if limit is None else min(int(limit), len(moves))
    cache = cache_dir() / f"{path.name}-{hashlib.sha256(raw).hexdigest()[:16]}.npy"
    table = None
    if cache.exists():
        try:
            table = np.load(cache)
            if table.shape != (len(moves), 7) or table.dtype != np.int8:
                table = None
        except (OSError, ValueError):
            table = None
    if table is None:
        table = _shipped_table(cache.name, len(moves))
    todo = np.flatnonzero(table[:n, 0] == UNKNOWN)
    if todo.size:
        cache.parent.mkdir(parents=True, exist_ok=True)
        last_save = time.perf_counter()
        for done, i in enumerate(todo, start=1):
            table[i] = move_outcomes(moves[i])
            now = time.perf_counter()
            if now - last_save > 30.0 or done == todo.size:
                tmp = cache.with_name(cache.name + f".{os.getpid()}.tmp.npy")
                np.save(tmp, table)
                os.replace(tmp, cache)
                last_save = now
            if progress is not None:
                progress(done, todo.size, set_name(name))
    return table[:n].copy()


def _encode(moves: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Observations float32[n, 84] and legal masks uint8[n, 7] of positions given as move strings."""
    game = get_game("connect4")
    obs = np.zeros((len(moves), game.obs_size), dtype=np.float32)
    mask = np.zeros((len(moves), game.n_actions), dtype=np.uint8)
    for k, m in enumerate(moves):
        state = parse_position(game, m)
        observe(CONNECT4, obs[k], state)
        legal_mask(CONNECT4, mask[k], state)
    return obs, mask


def mistake_counts(greedy: np.ndarray, outcomes: np.ndarray) -> tuple[int, int]:
    """(mistakes, positions where a mistake was possible) for greedy columns int[n] and outcomes int8[n, 7]."""
    legal = outcomes != ILLEGAL
    best = np.where(legal, outcomes, -9).max(axis=1)
    worst = np.where(legal, outcomes, 9).min(axis=1)
    chosen = outcomes[np.arange(len(greedy)), greedy]
    return int((chosen < best).sum()), int((worst < best).sum())


def mistake_rates(agent_or_logits_fn, sets=DEFAULT_PONS_SETS, limit: int | dict | None = None,
                  progress=None) -> dict:
    """`mistakes/<set>/rate|possible|positions` for each Pons set (see the module docstring)."""
    logits_fn = getattr(agent_or_logits_fn, "logits_fn", agent_or_logits_fn)
    out: dict = {}
    for name in sets:
        key = set_name(name)
        moves, _ = load_pons_set(name)
        lim = limit.get(key) if isinstance(limit, dict) else limit
        outcomes = outcome_table(name, lim, progress=progress)
        moves = moves[:outcomes.shape[0]]
        obs, mask = _encode(moves)
        greedy = greedy_actions(logits_fn(obs, mask), mask) if moves else np.zeros(0, np.int64)
        mistakes, possible = mistake_counts(greedy, outcomes)
        n = len(moves)
        out[f"mistakes/{key}/rate"] = mistakes / n if n else None
        out[f"mistakes/{key}/possible"] = possible
        out[f"mistakes/{key}/positions"] = n
    return out


def _player(name: str):
    if name not in _players:
        _players[name] = make_player(name)
    return _players[name]


def rate_agent(agent_or_logits_fn, *, ladder=None, members=None, repeats: int = DEFAULT_REPEATS,
               resamples: int = DEFAULT_RESAMPLES, seed: int = 0, progress=None) -> dict:
    """Elo of the greedy agent against the stored ladder, and its W/D/L against every member."""
    ladder = ladder if isinstance(ladder, dict) else load_ladder(ladder)
    stored = {p["name"]: p["rating"] for p in ladder["players"]}
    if members is None:
        members = [name for name, r in stored.items() if r is not None]
    for name in members:
        if stored.get(name) is None:
            raise ConfigError(f"ladder member {name!r} has no finite stored rating; choose from "
                              f"{', '.join(n for n, r in stored.items() if r is not None)}")
    agent = AgentPlayer(agent_or_logits_fn)
    out: dict = {}
    opp, opening_scores, per_opening = [], [], []
    games_per_pairing = 49 * 2 * repeats
    for k, name in enumerate(members):
        result = play_match(agent, _player(name), repeats=repeats, seed=seed,
                            game_offset=k * games_per_pairing)
        w, d, lo = result.wdl()
        for label, count in (("win", w), ("draw", d), ("loss", lo)):
            out[f"vs/{name}/{label}"] = count / result.games
        out[f"vs/{name}/games"] = result.games
        opp.append(stored[name])
        opening_scores.append(result.opening_scores())
        per_opening.append(2 * result.scores.shape[2])
        if progress is not None:
            progress(k + 1, len(members), name)
    rating = elo.fit_player(opp, opening_scores, per_opening, resamples=resamples, seed=seed)
    d = rating.to_json()
    out.update({"elo": d["rating"], "elo_lo": d["lo"], "elo_hi": d["hi"], "elo_bound": d["bound"],
                "elo_score": rating.score, "elo_games": rating.games})
    return out


def evaluate_connect4(agent_or_logits_fn, *, ladder=None, members=None, pons_sets=DEFAULT_PONS_SETS,
                      pons_limit: int | dict | None = None, repeats: int = DEFAULT_REPEATS,
                      resamples: int = DEFAULT_RESAMPLES, seed: int = 0, progress=None) -> dict:
    """Elo against the stored ladder and greedy mistake rates on the Pons sets (JSON-serialisable).

    agent_or_logits_fn: an `Agent` or `logits_fn(obs float32[n, 84], mask uint8[n, 7]) -> float32[n, 7]`.
    ladder: a ladder dict or path (default the packaged ladder-v1.json); members: ladder players to
    play (default every member with a finite stored rating); pons_sets: names of `PONS_SETS` (or file
    names); pons_limit: first N positions of each set (None: all); seed: the stochastic members'
    EVAL streams and the bootstrap.
    """
    out = rate_agent(agent_or_logits_fn, ladder=ladder, members=members, repeats=repeats,
                     resamples=resamples, seed=seed, progress=progress)
    out.update(mistake_rates(agent_or_logits_fn, pons_sets, pons_limit, progress=progress))
    return out
