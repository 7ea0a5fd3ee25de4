"""Matches over a fixed opening list and the Connect Four Elo ladder of reference players (SPEC section 7).

A **match** between players A and B plays every opening of `OPENINGS` (all 49 two-ply openings: the
first two moves are forced) once with each colour, `repeats` times when a player is stochastic (once
otherwise: a deterministic pair would only replay the same game). Its result keeps the score of A
(win 1, draw 1/2, loss 0) per opening, colour and repeat, so that the bootstrap of `numbaplay.eval.elo`
can resample openings with both colours (and every repeat) of an opening together.

Games of a match are played in lockstep, one ply at a time: every player is asked once per ply for all
the games waiting for its move (an agent does one forward pass per ply). Game `g` of a match, numbered
`(opening * 2 + colour) * repeats + repeat + game_offset`, takes a stochastic player's randomness from
the EVAL stream `stream_key(seed, EVAL, g, 0)`, draw `ply`.

The **ladder** is the round robin among all reference players (`numbaplay.eval.players.PLAYERS`), fitted
jointly with `random` anchored at 0 and stored as versioned JSON (`numbaplay/data/ladder-v1.json`).
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from numbaplay.errors import ConfigError
from numbaplay.eval import elo
from numbaplay.eval.players import PERFECT_BEFORE, PERFECT_MIN_PLY, PLAYERS, Player, make_player
from numbaplay.games.core import CONNECT4, is_legal, play

OPENINGS_VERSION = "c4-2ply-v1"
LADDER_VERSION = "ladder-v1"
LADDER_PATH = Path(__file__).resolve().parents[1] / "data" / "ladder-v1.json"
DEFAULT_REPEATS = 16
DEFAULT_RESAMPLES = 2000


def openings() -> np.ndarray:
    """int64[49, 2]: the two-ply openings (0-based columns), first move major, in column order."""
    return np.array([(a, b) for a in range(7) for b in range(7)], dtype=np.int64)


@njit(cache=True)
def apply_moves(states, rows, actions):
    """Play actions[i] in states[rows[i]]; returns the first i whose move is illegal, or -1.

    states: int64[G, 4]; rows: int64[n]; actions: int64[n].
    """
    for i in range(rows.shape[0]):
        s = states[rows[i]]
        if not is_legal(CONNECT4, s, actions[i]):
            return i
        play(CONNECT4, s, actions[i])
    return -1


@dataclass
class MatchResult:
    """Scores of player `a` against player `b`."""

    a: str
    b: str
    scores: np.ndarray
    """float64[n_openings, 2, repeats]: a's score (1, 0.5, 0); colour 0 = a moves first."""
    plies: np.ndarray
    """int64[n_openings, 2, repeats]: length of every game."""

    @property
    def games(self) -> int:
        return int(self.scores.size)

    def opening_scores(self) -> np.ndarray:
        """float64[n_openings]: a's total score per opening (both colours, all repeats)."""
        return self.scores.sum(axis=(1, 2))

    def wdl(self) -> tuple[int, int, int]:
        """a's wins, draws and losses."""
        return (int((self.scores == 1.0).sum()), int((self.scores == 0.5).sum()),
                int((self.scores == 0.0).sum()))


def play_match(a: Player, b: Player, *, repeats: int = DEFAULT_REPEATS, seed: int = 0,
               game_offset: int = 0) -> MatchResult:
    """Play `a` against `b` over every opening with both colours (`repeats` times if one is stochastic)."""
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    reps = repeats if (a.stochastic or b.stochastic) else 1
    opens = openings()
    n_open = opens.shape[0]
    n_games = n_open * 2 * reps
    g = np.arange(n_games)
    opening_of = g // (2 * reps)
    colour = (g // reps) % 2  # 0: a moves first
    states = np.zeros((n_games, 4), dtype=np.int64)
    for ply in range(2):
        bad = apply_moves(states, g.astype(np.int64), opens[opening_of, ply])
        assert bad < 0
    game_index = (g + game_offset).astype(np.int64)
    while True:
        ongoing = states[:, 3] == 0
        if not ongoing.any():
            break
        a_to_move = (states[:, 2] % 2) == colour  # a moves at even plies when it plays first
        for player, rows in ((a, np.flatnonzero(ongoing & a_to_move)), (b, np.flatnonzero(ongoing & ~a_to_move))):
            if rows.size == 0:
                continue
            actions = np.ascontiguousarray(player.select(states[rows], game_index[rows], seed), dtype=np.int64)
            bad = apply_moves(states, rows.astype(np.int64), actions)
            if bad >= 0:
                raise RuntimeError(f"player {player.name} chose illegal column {actions[bad]} in game "
                                   f"{rows[bad]} at ply {states[rows[bad], 2]}")
    status = states[:, 3]
    first_score = np.where(status == 1, 1.0, np.where(status == 2, 0.0, 0.5))
    a_score = np.where(colour == 0, first_score, 1.0 - first_score)
    shape = (n_open, 2, reps)
    return MatchResult(a.name, b.name, a_score.reshape(shape), states[:, 2].reshape(shape).copy())


# ---------------------------------------------------------------------------------------------------
# The ladder.


def _machine() -> dict:
    import numba

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "cpu": cpu, "cpu_count": os.cpu_count(),
            "numba_threads": numba.get_num_threads()}


def round_robin(names, *, repeats: int = DEFAULT_REPEATS, seed: int = 0, progress=None) -> list[MatchResult]:
    """Every pairing i < j of the named players once (each pairing plays both colours of every opening).

    progress: optional callable(done_pairings, total_pairings, label) called after each pairing.
    """
    players = [make_player(n) for n in names]
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    games_per_pairing = openings().shape[0] * 2 * repeats
    results = []
    for k, (i, j) in enumerate(pairs):
        results.append(play_match(players[i], players[j], repeats=repeats, seed=seed,
                                  game_offset=k * games_per_pairing))
        if progress is not None:
            progress(k + 1, len(pairs), f"{names[i]}-{names[j]}")
    return results


def fit_results(names, results: list[MatchResult], *, resamples: int = DEFAULT_RESAMPLES,
                bootstrap_seed: int = 0) -> list[elo.Rating]:
    """Joint fit of the round robin (`names[0]` at 0) with bootstrap intervals."""
    index = {n: i for i, n in enumerate(names)}
    pairings = [elo.Pairing(index[r.a], index[r.b], r.opening_scores(), 2 * r.scores.shape[2])
                for r in results]
    return elo.fit_ladder(len(names), pairings, names=list(names), resamples=resamples, seed=bootstrap_seed)


def build_ladder(*, names=None, repeats: int = DEFAULT_REPEATS, seed: int = 0,
                 resamples: int = DEFAULT_RESAMPLES, bootstrap_seed: int = 0, command: str = "",
                 progress=None) -> dict:
    """Play the round robin, fit it, and return the ladder as a JSON-serialisable dict."""
    names = list(names or PLAYERS)
    if names[0] != "random":
        raise ConfigError("the ladder's player 0 must be 'random' (the anchor at 0)")
    start = time.perf_counter()
    results = round_robin(names, repeats=repeats, seed=seed, progress=progress)
    play_time = time.perf_counter() - start
    ratings = fit_results(names, results, resamples=resamples, bootstrap_seed=bootstrap_seed)
    n = len(names)
    score = [[None] * n for _ in range(n)]
    games = [[0] * n for _ in range(n)]
    wdl = [[None] * n for _ in range(n)]
    pairings = []
    for r in results:
        i, j = names.index(r.a), names.index(r.b)
        s = float(r.scores.sum())
        score[i][j], score[j][i] = s, r.games - s
        games[i][j] = games[j][i] = r.games
        w, d, lo = r.wdl()
        wdl[i][j], wdl[j][i] = [w, d, lo], [lo, d, w]
        pairings.append({"a": r.a, "b": r.b, "games": r.games, "repeats": int(r.scores.shape[2]),
                         "opening_scores": [float(x) for x in r.opening_scores()],
                         "mean_plies": float(r.plies.mean())})
    return {
        "version": LADDER_VERSION,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "openings": {"version": OPENINGS_VERSION, "count": int(openings().shape[0]),
                     "description": "all 49 two-ply openings (first two moves forced), each played once "
                                    "with each colour per repeat"},
        "repeats": repeats,
        "seed": seed,
        "bootstrap": {"resamples": resamples, "seed": bootstrap_seed,
                      "method": "percentile, openings resampled within each pairing, both colours together"},
        "perfect": {"min_ply": PERFECT_MIN_PLY, "before": PERFECT_BEFORE},
        "players": [r.to_json() for r in ratings],
        "results": {"players": names, "score": score, "games": games, "wdl": wdl},
        "pairings": pairings,
        "machine": _machine(),
        "wall_time_s": {"games": round(play_time, 1), "total": round(time.perf_counter() - start, 1)},
    }


def save_ladder(ladder: dict, path) -> None:
    """Write the ladder JSON (atomically)."""
    from numbaplay.fileio import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(ladder, indent=1) + "\n")


def load_ladder(path=None) -> dict:
    """The stored ladder (default: the packaged `ladder-v1.json`); ConfigError if missing or foreign."""
    path = Path(path) if path is not None else LADDER_PATH
    try:
        ladder = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no ladder file at {path}; build one with `numbaplay ladder build`") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"ladder file {path} is not valid JSON: {exc}") from None
    if ladder.get("version") != LADDER_VERSION or ladder.get("openings", {}).get("version") != OPENINGS_VERSION:
        raise ConfigError(f"ladder file {path} has version {ladder.get('version')!r}, expected {LADDER_VERSION!r}")
    return ladder


def ladder_ratings(ladder: dict) -> dict[str, float]:
    """name -> stored rating of every member with a finite rating."""
    return {p["name"]: p["rating"] for p in ladder["players"] if p.get("rating") is not None}


def ladder_markdown(ladder: dict) -> str:
    """The ladder as Markdown tables: ratings, then the pairwise score matrix."""
    lines = ["| player | Elo | 95% interval | score | games |", "|---|---:|---|---:|---:|"]
    names = ladder["results"]["players"]
    score, games = ladder["results"]["score"], ladder["results"]["games"]
    for k, p in enumerate(ladder["players"]):
        total = sum(s for s in score[k] if s is not None)
        n = sum(games[k])
        interval = "anchor" if k == 0 else elo.format_interval(p)
        lines.append(f"| {p['name']} | {elo.format_rating(p)} | {interval} | {total:g} | {n} |")
    lines += ["", "Score of the row player against the column player (win 1, draw 1/2):", "",
              "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for i, name in enumerate(names):
        cells = ["-" if score[i][j] is None else f"{score[i][j]:g}/{games[i][j]}" for j in range(len(names))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
