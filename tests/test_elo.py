"""Elo fitting: recovery of known ratings, bootstrap coverage, and the one-sided bound of a perfect score."""
import math

import numpy as np
import pytest

from numbaplay.eval import elo

N_OPENINGS = 49
COLOURS = 2


def synthetic_pairing(rng, r_i, r_j, i, j, repeats=1, draw_share=0.4):
    """Games of i against j under the Elo model: P(win) = p - d/2, P(draw) = d, d = draw_share min(p, 1-p)."""
    p = float(elo.expected_score(r_i, r_j))
    d = draw_share * min(p, 1.0 - p)
    u = rng.random((N_OPENINGS, COLOURS * repeats))
    score = np.where(u < p - d / 2, 1.0, np.where(u < p + d / 2, 0.5, 0.0))
    return elo.Pairing(i, j, score.sum(axis=1), COLOURS * repeats)


def test_expected_score():
    assert elo.expected_score(0, 0) == pytest.approx(0.5)
    assert elo.expected_score(400, 0) == pytest.approx(10 / 11)
    assert elo.expected_score(0, 400) == pytest.approx(1 / 11)


def test_joint_fit_recovers_known_ratings():
    rng = np.random.default_rng(1234)
    truth = np.array([0.0, 150.0, 300.0, 450.0, 600.0])
    pairings = [synthetic_pairing(rng, truth[i], truth[j], i, j, repeats=20)
                for i in range(len(truth)) for j in range(i + 1, len(truth))]
    ratings = elo.fit_ladder(len(truth), pairings, resamples=200, seed=0)
    fitted = np.array([r.rating for r in ratings])
    assert fitted[0] == 0.0
    assert np.max(np.abs(fitted - truth)) < 40.0
    for r, t in zip(ratings[1:], truth[1:]):
        assert r.lo < r.rating < r.hi
        assert r.lo - 40 < t < r.hi + 40


def test_joint_fit_is_the_likelihood_maximum():
    """Gradient of the log-likelihood vanishes at the fit (checked with plain float64 arithmetic)."""
    rng = np.random.default_rng(7)
    truth = [0.0, 200.0, -100.0, 350.0]
    pairings = [synthetic_pairing(rng, truth[i], truth[j], i, j) for i in range(4) for j in range(i + 1, 4)]
    fitted = [r.rating for r in elo.fit_ladder(4, pairings, resamples=100)]
    grad = np.zeros(4)
    for pr in pairings:
        p = 1.0 / (1.0 + 10.0 ** ((fitted[pr.j] - fitted[pr.i]) / 400.0))
        g = pr.score - pr.games * p
        grad[pr.i] += g
        grad[pr.j] -= g
    assert np.max(np.abs(grad[1:])) < 1e-6


def test_single_fit_recovers_known_rating():
    rng = np.random.default_rng(99)
    opp = np.array([-200.0, 0.0, 250.0, 500.0])
    truth = 180.0
    pairings = [synthetic_pairing(rng, truth, r, 0, 1, repeats=10) for r in opp]
    rating = elo.fit_player(opp, [p.opening_scores for p in pairings], [p.games_per_opening for p in pairings],
                            resamples=300, seed=0)
    assert rating.bound is None
    assert abs(rating.rating - truth) < 40
    assert rating.lo < truth < rating.hi


def test_bootstrap_coverage_is_close_to_95_percent():
    """Over 200 synthetic matches, the 95% interval of a player fitted alone covers the truth ~95% of the time."""
    rng = np.random.default_rng(20240601)
    opp = np.array([-300.0, -100.0, 100.0, 300.0])
    truth = 50.0
    covered = 0
    reps = 200
    for k in range(reps):
        pairings = [synthetic_pairing(rng, truth, r, 0, 1) for r in opp]
        rating = elo.fit_player(opp, [p.opening_scores for p in pairings],
                                [p.games_per_opening for p in pairings], resamples=400, seed=k)
        covered += rating.lo <= truth <= rating.hi
    assert 0.88 <= covered / reps <= 0.99


def test_joint_bootstrap_coverage():
    """The joint ladder fit's intervals cover the truth at about the nominal rate too (player 2 of 4)."""
    rng = np.random.default_rng(5)
    truth = np.array([0.0, 100.0, 250.0, 400.0])
    covered, reps = 0, 200
    for k in range(reps):
        pairings = [synthetic_pairing(rng, truth[i], truth[j], i, j) for i in range(4) for j in range(i + 1, 4)]
        r = elo.fit_ladder(4, pairings, resamples=300, seed=k)[2]
        covered += r.lo <= truth[2] <= r.hi
    assert 0.88 <= covered / reps <= 0.99


def test_perfect_score_gives_a_lower_bound():
    n_games = 98
    rating = elo.fit_player([0.0], [np.full(N_OPENINGS, 2.0)], [2], resamples=100)
    assert rating.rating is None and rating.lo is None
    # all 98 games won against a 0-rated opponent: p^98 = 0.05
    p = 0.05 ** (1.0 / n_games)
    expected = 400.0 * math.log10(p / (1.0 - p))
    assert rating.bound == f"> {expected:.0f}"
    value = elo.score_bound([0.0], [n_games], perfect=True)
    assert value == pytest.approx(expected, abs=1e-6)


def test_zero_score_gives_an_upper_bound():
    rating = elo.fit_player([100.0, 300.0], [np.zeros(N_OPENINGS)] * 2, [2, 2], resamples=100)
    assert rating.bound.startswith("< ")
    value = float(rating.bound[2:])
    assert value < 100.0
    # the bound is where losing all 196 games has probability 0.05
    q = 1.0 - elo.expected_score(value, np.array([100.0, 300.0]))
    assert abs(98 * np.log(q).sum() - math.log(0.05)) < 0.05


def test_ladder_sets_aside_an_unbeaten_player():
    rng = np.random.default_rng(3)
    truth = [0.0, 200.0, 400.0]
    pairings = [synthetic_pairing(rng, truth[i], truth[j], i, j) for i in range(3) for j in range(i + 1, 3)]
    pairings += [elo.Pairing(k, 3, np.zeros(N_OPENINGS), 2) for k in range(3)]  # player 3 wins everything
    ratings = elo.fit_ladder(4, pairings, names=["a", "b", "c", "top"], resamples=100)
    assert ratings[3].rating is None and ratings[3].bound.startswith("> ")
    assert float(ratings[3].bound[2:]) > ratings[2].rating
    assert ratings[0].rating == 0.0 and ratings[1].rating is not None


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(11)
    pairings = [synthetic_pairing(rng, 0.0, 100.0, 0, 1) for _ in range(2)]
    args = ([0.0, 100.0], [p.opening_scores for p in pairings], [2, 2])
    a = elo.fit_player(*args, resamples=200, seed=5)
    b = elo.fit_player(*args, resamples=200, seed=5)
    assert (a.lo, a.hi) == (b.lo, b.hi)
