"""Elo ratings by maximum likelihood, with percentile-bootstrap intervals over openings (SPEC section 7).

Model: `P(i beats j) = 1 / (1 + 10^((R_j - R_i) / 400))`, a draw counting half a win. With
`theta = R ln(10) / 400` and `p_ij = sigmoid(theta_i - theta_j)`, a pairing where i scored `S_ij` points
in `N_ij` games contributes `S_ij log p_ij + (N_ij - S_ij) log(1 - p_ij)` to the log-likelihood (the
Bradley-Terry likelihood with draws as half points, as in BayesElo's "draws count half" mode and the
usual Elo fit). It is concave; Newton's method with step limiting finds the maximum.

- **Ladder**: every rating fitted jointly with player 0 fixed at 0. The maximum exists iff the graph
  "i scored at least half a point against j" is strongly connected (Zermelo 1929; Ford 1957). A player
  with a perfect or zero total score breaks that: such players are set aside one at a time (their
  totals recomputed among the players left after each), the rest is fitted, and each set-aside player
  is fitted alone against the fitted ratings (below); its rating is then only a one-sided bound. Any
  other split of the results raises NumbaplayError.
- **One player against fixed ratings** (an agent against the stored ladder): the same likelihood in a
  single unknown.
- **Perfect or zero score**: no finite maximum. The reported one-sided 95% bound is the rating at which
  the observed result (every game won, or every game lost) has probability 0.05:
  `sum_j N_j log p_j(R) = log 0.05` gives "> R" for a perfect score, and
  `sum_j N_j log(1 - p_j(R)) = log 0.05` gives "< R" for a zero score.
- **Intervals**: percentile bootstrap. Each resample draws, within every pairing independently, as many
  openings as it has, with replacement; an opening carries all of its games (both colours, every
  repeat) with it, since games from one opening are correlated. The fit is repeated on every resample;
  the interval is the 2.5% and 97.5% quantiles (inverted CDF, so that a resample with an infinite
  estimate stays infinite and reads as an open end). The generator is `numpy.random.default_rng(seed)`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from numbaplay.errors import NumbaplayError

SCALE = 400.0 / math.log(10.0)  # Elo points per natural-log unit of odds
THETA_CLAMP = 40.0  # |theta| beyond this (about 7,000 Elo) is treated as infinite
MAX_STEP = 3.0
MAX_ITER = 200
TOL = 1e-10
BOUND_LEVEL = 0.05


@dataclass
class Pairing:
    """The games between players i and j, by opening."""

    i: int
    j: int
    opening_scores: np.ndarray
    """float64[n_openings]: i's total score per opening (all its games)."""
    games_per_opening: int
    """Games per opening (2 colours x repeats)."""

    @property
    def score(self) -> float:
        return float(np.sum(self.opening_scores))

    @property
    def games(self) -> int:
        return int(len(self.opening_scores) * self.games_per_opening)


@dataclass
class Rating:
    """A fitted rating: a finite estimate with a 95% interval, or a one-sided bound."""

    name: str
    rating: float | None
    lo: float | None
    hi: float | None
    bound: str | None
    score: float
    games: int

    def to_json(self) -> dict:
        def rnd(x):
            return None if x is None or not math.isfinite(x) else round(float(x), 1)

        return {"name": self.name, "rating": rnd(self.rating), "lo": rnd(self.lo), "hi": rnd(self.hi),
                "bound": self.bound, "score": self.score, "games": self.games}


def expected_score(r_i, r_j):
    """P(i beats j), draws counting half."""
    return 1.0 / (1.0 + 10.0 ** ((np.asarray(r_j) - np.asarray(r_i)) / 400.0))


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _to_elo(theta):
    """Elo of natural-log odds; +-inf where theta reached the clamp."""
    r = np.asarray(theta, dtype=np.float64) * SCALE
    r = np.where(theta >= THETA_CLAMP - 1e-6, np.inf, r)
    return np.where(theta <= -THETA_CLAMP + 1e-6, -np.inf, r)


def fit_joint(n: int, pi: np.ndarray, pj: np.ndarray, score: np.ndarray, games: np.ndarray,
              theta0: np.ndarray | None = None) -> np.ndarray:
    """Maximum-likelihood ratings (Elo, player 0 at 0) of B result sets at once.

    pi, pj: int[P] players of each pairing; score: float64[B, P] (or [P]) points of pi; games: float64[P].
    Returns float64[B, n] (or [n]); coordinates that diverge (no finite maximum) come back +-inf.
    """
    score = np.asarray(score, dtype=np.float64)
    single = score.ndim == 1
    score = np.atleast_2d(score)
    games = np.asarray(games, dtype=np.float64)
    b = score.shape[0]
    theta = np.zeros((b, n)) if theta0 is None else np.array(np.broadcast_to(theta0 / SCALE, (b, n)))
    ridge = 1e-12 * np.eye(n - 1)
    for _ in range(MAX_ITER):
        p = _sigmoid(theta[:, pi] - theta[:, pj])
        resid = score - games * p
        w = games * p * (1.0 - p)
        grad = np.zeros((b, n))
        hess = np.zeros((b, n, n))
        for k in range(len(pi)):
            i, j = pi[k], pj[k]
            grad[:, i] += resid[:, k]
            grad[:, j] -= resid[:, k]
            hess[:, i, i] += w[:, k]
            hess[:, j, j] += w[:, k]
            hess[:, i, j] -= w[:, k]
            hess[:, j, i] -= w[:, k]
        step = np.linalg.solve(hess[:, 1:, 1:] + ridge, grad[:, 1:, None])[:, :, 0]
        biggest = np.max(np.abs(step), axis=1, keepdims=True)
        step *= np.minimum(1.0, MAX_STEP / np.maximum(biggest, 1e-300))
        theta[:, 1:] = np.clip(theta[:, 1:] + step, -THETA_CLAMP, THETA_CLAMP)
        if float(np.max(np.abs(step))) < TOL:
            break
    out = _to_elo(theta)
    return out[0] if single else out


def fit_single(opp: np.ndarray, score: np.ndarray, games: np.ndarray) -> np.ndarray:
    """Maximum-likelihood rating of one player against fixed opponent ratings, for B result sets.

    opp: float64[P] Elo; score: float64[B, P] (or [P]) the player's points; games: float64[P].
    Returns float64[B] (or a scalar array): +inf for a perfect score, -inf for a zero score.
    """
    score = np.asarray(score, dtype=np.float64)
    single = score.ndim == 1
    score = np.atleast_2d(score)
    games = np.asarray(games, dtype=np.float64)
    opp_theta = np.asarray(opp, dtype=np.float64) / SCALE
    total = score.sum(axis=1)
    n_games = games.sum()
    theta = np.full(score.shape[0], float(np.average(opp_theta, weights=games)))
    for _ in range(MAX_ITER):
        p = _sigmoid(theta[:, None] - opp_theta[None, :])
        grad = total - (games * p).sum(axis=1)
        hess = (games * p * (1.0 - p)).sum(axis=1) + 1e-300
        step = np.clip(grad / hess, -MAX_STEP, MAX_STEP)
        theta = np.clip(theta + step, -THETA_CLAMP + opp_theta.min(), THETA_CLAMP + opp_theta.max())
        if float(np.max(np.abs(step))) < TOL:
            break
    r = theta * SCALE
    r = np.where(total >= n_games, np.inf, np.where(total <= 0, -np.inf, r))
    return r[0] if single else r


def score_bound(opp, games, perfect: bool, level: float = BOUND_LEVEL) -> float:
    """One-sided bound of a perfect (lower bound) or zero (upper bound) score, in Elo (see module doc)."""
    opp = np.asarray(opp, dtype=np.float64)
    games = np.asarray(games, dtype=np.float64)
    target = math.log(level)

    def log_prob(r):
        p = expected_score(r, opp)
        return float((games * np.log(p if perfect else 1.0 - p)).sum())

    lo, hi = float(opp.min()) - 4000.0, float(opp.max()) + 4000.0
    for _ in range(200):  # log_prob rises with r for a perfect score, falls for a zero score
        mid = 0.5 * (lo + hi)
        if (log_prob(mid) < target) == perfect:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def format_bound(value: float, perfect: bool) -> str:
    return f"> {value:.0f}" if perfect else f"< {value:.0f}"


def format_rating(r: dict | Rating) -> str:
    d = r.to_json() if isinstance(r, Rating) else r
    if d.get("bound"):
        return d["bound"]
    return "-" if d.get("rating") is None else f"{d['rating']:.0f}"


def format_interval(r: dict | Rating) -> str:
    d = r.to_json() if isinstance(r, Rating) else r
    if d.get("bound"):
        return "one-sided 95% bound"
    lo = "-inf" if d.get("lo") is None else f"{d['lo']:.0f}"
    hi = "+inf" if d.get("hi") is None else f"{d['hi']:.0f}"
    return f"[{lo}, {hi}]"


def _percentiles(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = np.quantile(samples, 0.025, axis=0, method="inverted_cdf")
    hi = np.quantile(samples, 0.975, axis=0, method="inverted_cdf")
    return lo, hi


def _resample(pairings: list[Pairing], resamples: int, rng: np.random.Generator) -> np.ndarray:
    """float64[B, P]: the score of each pairing in each bootstrap resample (openings with replacement)."""
    out = np.empty((resamples, len(pairings)))
    for k, pr in enumerate(pairings):
        s = np.asarray(pr.opening_scores, dtype=np.float64)
        idx = rng.integers(0, len(s), size=(resamples, len(s)))
        out[:, k] = s[idx].sum(axis=1)
    return out


def _strongly_connected(n_nodes: int, edges: list[tuple[int, int]]) -> bool:
    """True if every node reaches node 0 and node 0 reaches every node."""
    def reach(adj):
        seen, stack = {0}, [0]
        while stack:
            u = stack.pop()
            for v in adj[u]:
                if v not in seen:
                    seen.add(v)
                    stack.append(v)
        return len(seen) == n_nodes

    fwd = [[] for _ in range(n_nodes)]
    bwd = [[] for _ in range(n_nodes)]
    for u, v in edges:
        fwd[u].append(v)
        bwd[v].append(u)
    return reach(fwd) and reach(bwd)


def _totals(k: int, pairings: list[Pairing], active: set[int]) -> tuple[float, int]:
    score, games = 0.0, 0
    for pr in pairings:
        if pr.i == k and pr.j in active:
            score, games = score + pr.score, games + pr.games
        elif pr.j == k and pr.i in active:
            score, games = score + pr.games - pr.score, games + pr.games
    return score, games


def fit_ladder(n: int, pairings: list[Pairing], *, names: list[str] | None = None,
               resamples: int = 2000, seed: int = 0) -> list[Rating]:
    """Joint fit of a ladder (player 0 at 0) with bootstrap intervals and one-sided bounds (module doc)."""
    names = names or [str(k) for k in range(n)]
    active = set(range(n))
    peeled: list[int] = []
    changed = True
    while changed:
        changed = False
        for k in sorted(active - {0}):
            score, games = _totals(k, pairings, active)
            if games and (score <= 0 or score >= games):
                active.discard(k)
                peeled.append(k)
                changed = True
                break
    score0, games0 = _totals(0, pairings, active)
    if games0 == 0 or score0 <= 0 or score0 >= games0:
        raise NumbaplayError("the anchor (player 0) has a perfect or zero score: its ladder has no finite fit")
    order = sorted(active)
    local = {k: m for m, k in enumerate(order)}
    inner = [pr for pr in pairings if pr.i in active and pr.j in active]
    edges = []
    for pr in inner:
        if pr.score > 0:
            edges.append((local[pr.i], local[pr.j]))
        if pr.score < pr.games:
            edges.append((local[pr.j], local[pr.i]))
    if not _strongly_connected(len(order), edges):
        raise NumbaplayError("the ladder's results split the players into groups that never scored against "
                             "each other: no finite joint fit")
    pi = np.array([local[pr.i] for pr in inner], dtype=np.int64)
    pj = np.array([local[pr.j] for pr in inner], dtype=np.int64)
    games = np.array([pr.games for pr in inner], dtype=np.float64)
    point = fit_joint(len(order), pi, pj, np.array([pr.score for pr in inner]), games)
    rng = np.random.default_rng(seed)
    boot = fit_joint(len(order), pi, pj, _resample(inner, resamples, rng), games, theta0=point)
    lo, hi = _percentiles(boot)

    ratings: dict[int, Rating] = {}
    for k in order:
        m = local[k]
        score, n_games = _totals(k, pairings, set(range(n)))
        ratings[k] = Rating(names[k], float(point[m]), float(lo[m]), float(hi[m]), None, score, n_games)
    for k in peeled:
        opp, g = [], []
        for pr in pairings:
            if pr.i == k and pr.j in active:
                opp.append(point[local[pr.j]])
                g.append(pr.games)
            elif pr.j == k and pr.i in active:
                opp.append(point[local[pr.i]])
                g.append(pr.games)
        own, _ = _totals(k, pairings, active)
        perfect = own > 0
        value = score_bound(opp, g, perfect)
        score, n_games = _totals(k, pairings, set(range(n)))
        ratings[k] = Rating(names[k], None, None, None, format_bound(value, perfect), score, n_games)
    return [ratings[k] for k in range(n)]


def fit_player(opp_ratings, opening_scores, games_per_opening, *, name: str = "agent",
               resamples: int = 2000, seed: int = 0) -> Rating:
    """Rating of one player against fixed opponent ratings, with a bootstrap interval or a bound.

    opp_ratings: float[P]; opening_scores: P arrays of the player's score per opening;
    games_per_opening: int[P].
    """
    pairings = [Pairing(0, 1, np.asarray(s, dtype=np.float64), int(g))
                for s, g in zip(opening_scores, games_per_opening)]
    opp = np.asarray(opp_ratings, dtype=np.float64)
    games = np.array([pr.games for pr in pairings], dtype=np.float64)
    scores = np.array([pr.score for pr in pairings])
    total, n_games = float(scores.sum()), int(games.sum())
    if total <= 0 or total >= n_games:
        perfect = total > 0
        return Rating(name, None, None, None, format_bound(score_bound(opp, games, perfect), perfect),
                      total, n_games)
    point = float(fit_single(opp, scores, games))
    boot = fit_single(opp, _resample(pairings, resamples, np.random.default_rng(seed)), games)
    lo, hi = _percentiles(boot)
    return Rating(name, point, float(lo), float(hi), None, total, n_games)
