"""The verdict rule: when do logged runs show one of the paper's findings? One definition, used by the findings table
and stated next to it.

A comparison of arm A against arm B (the paper says A > B) over seeds:

    d    = mean(A) - mean(B)
    se_d = sqrt(se(A)^2 + se(B)^2),   se(X) = sd(X, ddof=1) / sqrt(n_X)   (two independent sets of seeds)

    "shown"      d > 2 se_d        (the paper's sign, beyond two standard errors of the difference)
    "opposite"   d < -2 se_d       (against the paper's sign, likewise)
    "not shown"  otherwise, and whenever either arm has fewer than two seeds (no standard error to judge by)

Nothing is tuned on the outcome: the rule, the arms and the seeds are fixed before the runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

SHOWN, OPPOSITE, NOT_SHOWN = "shown", "opposite", "not shown"
RULE = ("A finding is **shown** when the difference between the arms has the paper's sign and exceeds two standard "
        "errors of the difference (seeds as samples; se = sd / sqrt(n) per arm, combined in quadrature); "
        "**opposite** when it exceeds two standard errors against the paper's sign; **not shown** otherwise, and "
        "whenever an arm has fewer than two seeds.")


@dataclass(frozen=True)
class Estimate:
    """The mean of one arm's seeds and its standard error (NaN with fewer than two seeds)."""

    mean: float
    se: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> "Estimate":
        xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
        if not xs:
            return cls(math.nan, math.nan, 0)
        mean = sum(xs) / len(xs)
        if len(xs) < 2:
            return cls(mean, math.nan, len(xs))
        var = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)
        return cls(mean, math.sqrt(var / len(xs)), len(xs))

    def text(self, fmt: str = "{:.1f}") -> str:
        """'12.3 ± 0.4 (n=3)', or '12.3 (n=1)' without a standard error."""
        if self.n == 0:
            return "-"
        se = "" if math.isnan(self.se) else " ± " + fmt.format(self.se)
        return f"{fmt.format(self.mean)}{se} (n={self.n})"


def verdict(better: Estimate, worse: Estimate) -> str:
    """The rule above for 'the paper says `better` > `worse`'."""
    if better.n < 2 or worse.n < 2:
        return NOT_SHOWN
    d = better.mean - worse.mean
    se_d = math.hypot(better.se, worse.se)
    if d > 2 * se_d:
        return SHOWN
    if d < -2 * se_d:
        return OPPOSITE
    return NOT_SHOWN
