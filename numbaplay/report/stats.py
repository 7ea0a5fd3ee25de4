"""Statistics for reporting strength across seeds (SPEC section 7, "Across seeds").

- A mean over n seeds gets a Student-t interval: `mean +/- t_{(1+c)/2, n-1} * s / sqrt(n)` with `s` the
  sample standard deviation (ddof = 1). It needs n >= 2; with n = 1 the half-width is NaN.
- A success count k of n gets the Clopper-Pearson ("exact") interval: the lower bound is the
  `(1-c)/2` quantile of Beta(k, n-k+1) (0 when k = 0), the upper bound the `(1+c)/2` quantile of
  Beta(k+1, n-k) (1 when k = n). Clopper & Pearson, Biometrika 26 (1934).
- A time to a target is summarised by the median over the runs that reached it, together with how many
  did: runs that never reached it have no time, and treating them as the run length would invent one.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st


@dataclass(frozen=True)
class MeanInterval:
    """A mean over n values with a symmetric Student-t confidence interval."""

    mean: float
    """Sample mean (NaN when n = 0)."""
    half_width: float
    """t quantile times the standard error (NaN when n < 2)."""
    lo: float
    """mean - half_width."""
    hi: float
    """mean + half_width."""
    n: int
    """Number of values."""
    confidence: float
    """Two-sided confidence level, e.g. 0.95."""


@dataclass(frozen=True)
class Proportion:
    """A success count with its Clopper-Pearson interval."""

    successes: int
    """Number of successes k."""
    n: int
    """Number of trials n."""
    rate: float
    """k / n (NaN when n = 0)."""
    lo: float
    """Lower bound of the interval."""
    hi: float
    """Upper bound of the interval."""
    confidence: float
    """Two-sided confidence level, e.g. 0.95."""


@dataclass(frozen=True)
class MedianCount:
    """The median time to a target over the runs that reached it, and how many did."""

    median: float | None
    """Median over the runs that reached the target; None when none did."""
    count: int
    """Runs that reached the target."""
    total: int
    """Runs in all."""


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def t_interval(values: Iterable[float], confidence: float = 0.95) -> MeanInterval:
    """Mean of `values` with a two-sided Student-t interval at `confidence` (values must be finite)."""
    _check_confidence(confidence)
    x = np.asarray(list(values), dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("t_interval expects a flat sequence of numbers")
    if not np.all(np.isfinite(x)):
        raise ValueError("t_interval expects finite values")
    n = int(x.size)
    nan = float("nan")
    if n == 0:
        return MeanInterval(nan, nan, nan, nan, 0, confidence)
    mean = float(x.mean())
    if n == 1:
        return MeanInterval(mean, nan, nan, nan, 1, confidence)
    sem = float(x.std(ddof=1)) / math.sqrt(n)
    half = float(_st.t.ppf(0.5 + confidence / 2.0, n - 1)) * sem
    return MeanInterval(mean, half, mean - half, mean + half, n, confidence)


def clopper_pearson(successes: int, n: int, confidence: float = 0.95) -> Proportion:
    """`successes` out of `n` with the two-sided Clopper-Pearson interval at `confidence`."""
    _check_confidence(confidence)
    k, n = int(successes), int(n)
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    nan = float("nan")
    if n == 0:
        return Proportion(0, 0, nan, 0.0, 1.0, confidence)
    alpha = 1.0 - confidence
    lo = 0.0 if k == 0 else float(_st.beta.ppf(alpha / 2.0, k, n - k + 1))
    hi = 1.0 if k == n else float(_st.beta.ppf(1.0 - alpha / 2.0, k + 1, n - k))
    return Proportion(k, n, k / n, lo, hi, confidence)


def median_with_count(times: Iterable[float | None]) -> MedianCount:
    """Median of the times that exist; None (or NaN) marks a run that never reached the target."""
    all_times = list(times)
    reached = [float(t) for t in all_times if t is not None and not math.isnan(float(t))]
    median = float(np.median(reached)) if reached else None
    return MedianCount(median, len(reached), len(all_times))
