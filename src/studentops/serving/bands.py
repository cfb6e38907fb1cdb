"""Risk bands that agree with the model's decision: cut-offs, shares of a list, or capacity.

A band tells a team whom to see first. Three rules, chosen with ``risk_band_mode``:

- ``cutoffs`` (every channel; the default): high at or above ``risk_high``, medium at or above
  ``risk_medium``, low below;
- ``shares`` (lists): the top ``risk_high_share`` of the ranked list is high, the next students
  up to ``risk_medium_share`` of it medium (top 10% = high);
- ``capacity`` (lists): the ``risk_capacity`` students a team can see are high, the rest medium
  at or above ``risk_medium``.

In every mode the model's decision is a band boundary: a student *predicted* at risk (the
positive class at the tuned threshold, an at-risk class, a value below the bar) is high under
cut-offs, and at least medium under shares or capacity, with ``band_reason`` saying why not high
(beyond the share or the capacity). Single predictions (one JSON record, one stream event)
have no list to rank within, so shares and capacity fall back to the cut-offs there; the rule
text says so.

Why cut-offs by default: a band must never contradict the decision a counselor is shown, so by
default every student predicted at risk is high on every profile (issue 19). On some profiles
that is much of a cohort (two thirds of ``student-performance``, where D or F is 64% of the real
grades); the list is ranked by a risk that does not tie, and a team that wants the band itself
to prioritise chooses shares or capacity (docs/serving.md, Bands).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

BandMode = Literal["cutoffs", "shares", "capacity"]
BANDS = ("high", "medium", "low")


@dataclass(frozen=True)
class RiskBands:
    """How risk scores become bands (see the module docstring).

    Attributes:
        high, medium: probability cut-offs (0..1) of the ``cutoffs`` rule, and of single
            predictions in every mode; ``medium`` is also the floor of medium under capacity.
        mode: "cutoffs", "shares" or "capacity".
        high_share, medium_share: cumulative shares of a ranked list (0..1) for ``shares``.
        capacity: students in the high band under ``capacity``.
    """

    high: float = 0.6
    medium: float = 0.3
    mode: BandMode = "cutoffs"
    high_share: float = 0.10
    medium_share: float = 0.25
    capacity: int = 50

    def band(self, score: float, at_risk: bool = False) -> str | None:
        """The cut-off band of one score (None when the model defines no risk)."""
        if score != score:
            return None
        if at_risk or score >= self.high:
            return "high"
        return "medium" if score >= self.medium else "low"

    def bands(self, scores: np.ndarray, at_risk: np.ndarray | None = None) -> np.ndarray:
        """Cut-off bands (n,) of scores (n,); a student predicted at risk is always high."""
        scores = np.asarray(scores, dtype=float)
        out = np.full(len(scores), "low", dtype=object)
        out[scores >= self.medium] = "medium"
        out[scores >= self.high] = "high"
        if at_risk is not None:
            out[np.asarray(at_risk, dtype=bool)] = "high"
        out[np.isnan(scores)] = None  # a regression model without an at-risk bar
        return out

    def list_bands(
        self, scores: np.ndarray, order: np.ndarray, at_risk: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[str | None]]:
        """Bands and reasons of a ranked list, in input order.

        Args:
            scores: risk per student (n,).
            order: positions of the students from highest to lowest rank (n,).
            at_risk: the model's decision per student (n,), or None.

        Returns:
            (bands (n,), reasons (n,)): a reason only where a student predicted at risk is
            not high (beyond the share or the capacity).
        """
        n = len(scores)
        at_risk = np.zeros(n, bool) if at_risk is None else np.asarray(at_risk, dtype=bool)
        reasons: list[str | None] = [None] * n
        if self.mode == "cutoffs" or n == 0:
            return self.bands(scores, at_risk), reasons
        rank = np.empty(n, dtype=np.int64)
        rank[np.asarray(order)] = np.arange(1, n + 1)
        scores = np.asarray(scores, dtype=float)
        out = np.full(n, "low", dtype=object)
        if self.mode == "shares":
            n_high = math.ceil(self.high_share * n)
            n_medium = math.ceil(self.medium_share * n)
            out[rank <= n_medium] = "medium"
            out[rank <= n_high] = "high"
            beyond = f"beyond the top {self.high_share:.0%} of {n:,}"
        else:
            n_high = self.capacity
            out[scores >= self.medium] = "medium"
            out[rank <= n_high] = "high"
            beyond = f"beyond the capacity of {self.capacity:,}"
        for i in np.flatnonzero(at_risk & (out != "high")):
            out[i] = "medium"
            reasons[i] = f"predicted at risk, but rank {int(rank[i]):,} is {beyond}"
        out[np.isnan(scores)] = None
        return out, reasons

    def rule(self, decision: str) -> str:
        """The band rule in one line, for every list and ``GET /v1/model``.

        Args:
            decision: how the model decides "at risk", e.g. "predicted Dropout".
        """
        cut = (
            f"high: {decision} or risk >= {self.high:.2f}; medium: risk >= {self.medium:.2f}; "
            f"low: below"
        )
        if self.mode == "cutoffs":
            return cut
        if self.mode == "shares":
            head = (
                f"high: top {self.high_share:.0%} of the list; medium: to the top "
                f"{self.medium_share:.0%}"
            )
        else:
            head = (
                f"high: the {self.capacity:,} highest-ranked (capacity); medium: risk >= "
                f"{self.medium:.2f}"
            )
        return f"{head}; {decision} is at least medium. Single predictions: {cut}"

    def as_dict(self, decision: str) -> dict[str, Any]:
        """The rule's settings and text (``GET /v1/model``)."""
        out: dict[str, Any] = {"mode": self.mode, "high": self.high, "medium": self.medium}
        if self.mode == "shares":
            out |= {"high_share": self.high_share, "medium_share": self.medium_share}
        if self.mode == "capacity":
            out["capacity"] = self.capacity
        return out | {"decision": decision, "rule": self.rule(decision)}


def bands_from_settings(settings: Any) -> RiskBands:
    """The bands configured in ``settings`` (``risk_*`` keys; see docs/serving.md)."""
    return RiskBands(
        high=settings.risk_high,
        medium=settings.risk_medium,
        mode=settings.risk_band_mode,
        high_share=settings.risk_high_share,
        medium_share=settings.risk_medium_share,
        capacity=settings.risk_capacity,
    )
