"""StudentModel: one picklable object from raw profile columns to predictions and risk scores.

A model is an ensemble of *members*; a member is one candidate of the search (an algorithm and
its hyperparameters) kept as the models fitted on each cross-validation fold, whose predictions
are averaged (cross-validation bagging, as AutoGluon does). Keeping the fold models means no
refit after the search, so the whole budget goes to the search, and the out-of-fold predictions
that chose the ensemble, the threshold and the class weights are exactly those of the models
that are served.

A *derived* member regresses the numeric source of a derived target (GPA before it is binned
to GradeClass) and turns the prediction into class probabilities with the cross-validated
residual spread: P(class) = P(pred + e falls in the class's bin), e ~ Normal(0, sigma_cv).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from studentops.datasets.profile import Profile, category_key
from studentops.features.encode import ProfileEncoder

MemberKind = Literal["classifier", "regressor", "derived"]
# DerivedBins' boundary noise CDF: grid half-width in (sigma + scale) and steps; measured
# against adaptive quadrature (scipy.integrate.quad): within 1.2e-6 at sigma/scale 0.01 to 1000.
VOIGT_SPAN, VOIGT_STEPS = 40.0, 16_000


def class_codes(values: Iterable[Any], classes: Sequence[Any]) -> np.ndarray:
    """Positions in ``classes`` of class values (1, 1.0 and "1" are the same class)."""
    lookup = {category_key(c): i for i, c in enumerate(classes)}
    return np.array([lookup[category_key(v)] for v in values], dtype=int)


_DERIVED_CACHES = ("_voigt_tables", "_class_matrix")


def _mass(cdf: np.ndarray) -> np.ndarray:
    """Mass per bin (n, k + 1) from the CDF at the k edges (n, k): differences with 0 and 1 at
    the ends (written out: ``np.diff`` with prepend/append cost 15 us a call)."""
    n, k = cdf.shape
    if k == 0:  # one bin: everything in it
        return np.ones((n, 1))
    out = np.empty((n, k + 1))
    out[:, 0] = cdf[:, 0]
    out[:, 1:k] = cdf[:, 1:] - cdf[:, :-1]
    out[:, k] = 1.0 - cdf[:, -1]
    return out


def _cauchy_tail(x: np.ndarray, sigma: float, gamma: float) -> np.ndarray:
    """P(e + u < x) far from 0: Cauchy CDF plus the normal's second-order term (Taylor in e)."""
    slope = -2 * gamma * x / (np.pi * (x**2 + gamma**2) ** 2)  # f_C'(x)
    return 0.5 + np.arctan(x / gamma) / np.pi + 0.5 * sigma**2 * slope


def typical_values(X: np.ndarray, categorical: list[int]) -> np.ndarray:
    """Typical value of each column of an (n_rows, n_features) matrix, shape (n_features,):
    the median of numbers, the most frequent code of categories (0 for an all-missing column)."""
    ref = np.nanmedian(np.where(np.isnan(X).all(axis=0), 0.0, X), axis=0)
    for j in categorical:
        codes = X[:, j][~np.isnan(X[:, j])]
        if len(codes):
            values, counts = np.unique(codes, return_counts=True)
            ref[j] = values[np.argmax(counts)]
    return ref


@dataclass(eq=False)
class DerivedBins:
    """Bins of a derived target: ``edges`` as in the profile, ``class_of_bin`` as indices into
    the model's classes, and how recorded labels stray from the bins of their source.

    Recorded labels do not always agree with the bins (GradeClass differs from bins(GPA) on 7%
    of students); without a noise model a student whose GPA says F but whose label is A would
    get a probability of 1e-10 (a ruinous log loss). Two kinds of straying, mixed with weight
    ``mix`` (estimated on the training part by :meth:`with_noise`):

    - ``noise[k, c]``: P(recorded class c | the source's bin gives class k), one rate per bin
      whatever the distance to its edge (class-conditional noise, "noisy at random" in Frenay
      and Verleysen, 2014, IEEE TNNLS 25(5)). It caps P(at risk) at one value for every student
      far inside a bin, so many students share one risk;
    - ``scale``: the label is the bin of ``source + u``, u ~ Cauchy(0, scale): likely near an
      edge, rarer with distance, never zero (the heavy tail), so the risk keeps rising with the
      distance and a list's top ranks by risk.

    ``scale == 0`` or ``mix == 1`` is the first kind alone (models trained before the second).

    Attributes:
        edges: (n_edges,) ascending, in source units. class_of_bin: (n_edges + 1,).
        noise: (n_classes, n_classes) rows summing to 1, or None.
        scale: Cauchy scale in source units (0: none). mix: weight of ``noise`` (0..1).
    """

    edges: np.ndarray
    class_of_bin: np.ndarray
    n_classes: int
    noise: np.ndarray | None = None
    scale: float = 0.0
    mix: float = 1.0

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the CDF tables and class matrix (rebuilt on first use, ~10 ms)."""
        return {k: v for k, v in self.__dict__.items() if k not in _DERIVED_CACHES}

    def _bin_mass(self, values: np.ndarray, sigma: float) -> np.ndarray:
        """P(source in each bin) (n, n_edges + 1) for a prediction with normal error ``sigma``."""
        from scipy.special import ndtr

        return _mass(ndtr((self.edges[None, :] - values[:, None]) / max(sigma, 1e-9)))

    def _boundary_mass(self, values: np.ndarray, sigma: float) -> np.ndarray:
        """P(source + e + u in each bin) (n, n_edges + 1), e ~ N(0, sigma), u ~ Cauchy(0, scale)."""
        return _mass(self._noise_cdf(self.edges[None, :] - values[:, None], sigma))

    def _noise_cdf(self, x: np.ndarray, sigma: float) -> np.ndarray:
        """P(e + u < x) for e ~ N(0, sigma), u ~ Cauchy(0, scale): the Voigt distribution's CDF.

        Exact Cauchy CDF ``1/2 + arctan(x / scale) / pi`` when ``sigma`` is 0. Otherwise the
        density (``scipy.special.voigt_profile``) integrated once per ``sigma`` on a grid of
        ``VOIGT_STEPS`` steps over +-``VOIGT_SPAN`` widths (width = sigma + scale) and read by
        interpolation; beyond the grid the two-term expansion
        ``F_C(x) + sigma^2 / 2 * f_C'(x)`` (error O(sigma^4 scale / x^5)), which also anchors
        the grid's left end. Cost per row: one interpolation per edge, like the normal CDF.
        """
        gamma = self.scale
        if sigma <= 0:
            return 0.5 + np.arctan(x / gamma) / np.pi
        tables: dict[float, tuple[np.ndarray, np.ndarray]] = self.__dict__.setdefault(
            "_voigt_tables", {}
        )
        if sigma not in tables:
            from scipy.integrate import cumulative_trapezoid
            from scipy.special import voigt_profile

            span = VOIGT_SPAN * (sigma + gamma)
            grid = np.linspace(-span, span, VOIGT_STEPS + 1)
            density = voigt_profile(grid, sigma, gamma)
            start = _cauchy_tail(np.array([-span]), sigma, gamma)[0]
            tables[sigma] = (grid, start + cumulative_trapezoid(density, grid, initial=0.0))
        grid, table = tables[sigma]
        out = np.interp(x, grid, table)
        if x.min() < grid[0] or x.max() > grid[-1]:
            far = np.abs(x) > grid[-1]
            out[far] = _cauchy_tail(x[far], sigma, gamma)
        return out

    def _classes(self, mass: np.ndarray) -> np.ndarray:
        out = mass @ self._to_classes()
        return out / out.sum(axis=1, keepdims=True)

    def _to_classes(self) -> np.ndarray:
        """(n_bins, n_classes) 0/1: which class each bin gives (kept; not pickled)."""
        matrix = self.__dict__.get("_class_matrix")
        if matrix is None:
            matrix = np.zeros((len(self.class_of_bin), self.n_classes))
            matrix[np.arange(len(self.class_of_bin)), self.class_of_bin] = 1.0
            self.__dict__["_class_matrix"] = matrix
        return matrix

    def proba(self, values: np.ndarray, sigma: float) -> np.ndarray:
        """Class probabilities (n, n_classes) of predicted sources ``values`` (n,) whose normal
        error has sd ``sigma`` (source units), with the label noise above."""
        values = np.asarray(values, dtype=float)
        plain = self._classes(self._bin_mass(values, sigma))
        if self.noise is not None:
            plain = plain @ self.noise
        if self.scale <= 0 or self.mix >= 1:
            return plain
        boundary = self._boundary_mass(values, sigma) @ self._to_classes()
        return self.mix * plain + (1 - self.mix) * boundary

    def implied(self, source: np.ndarray) -> np.ndarray:
        """Class index the bins give each source value."""
        return self.class_of_bin[np.searchsorted(self.edges, source, side="right")]

    def with_noise(
        self, source: np.ndarray, y: np.ndarray, prior: float = 1.0, boundary: bool = True
    ) -> DerivedBins:
        """A copy with the label noise estimated from known sources (n,) and recorded classes
        ``y`` (n,) by maximum likelihood.

        The mixture ``mix * noise[bin(s), y] + (1 - mix) * P(bin(s + u) = y)`` is fitted by EM
        (Dempster, Laird and Rubin, 1977): each row's weight of the first kind, then ``noise``
        from the weighted counts (``prior`` pseudo-counts per row, so unseen confusions keep a
        small probability), ``mix`` the mean weight, and ``scale`` the best of 31 values from
        1/1000 of the median bin width to one width (log-spaced), 30 rounds. The counts alone
        (``mix = 1``, the model before the boundary noise) are kept when they fit better, so
        the fit never loses likelihood on the training part; ``boundary=False`` keeps them
        without trying (the model before, for comparisons).
        """
        known = ~np.isnan(source)
        s, yk = source[known], y[known]
        k = self.implied(s)

        def counted(weights: np.ndarray) -> np.ndarray:
            counts = np.full((self.n_classes, self.n_classes), prior / self.n_classes)
            np.add.at(counts, (k, yk), weights)
            return counts / counts.sum(axis=1, keepdims=True)

        noise = counted(np.ones(len(s)))
        out = DerivedBins(self.edges, self.class_of_bin, self.n_classes, noise)
        if not boundary or not len(s) or not len(self.edges):
            return out
        width = float(np.median(np.diff(self.edges))) if len(self.edges) > 1 else 1.0
        scales = width * np.logspace(-3, 0, 31)
        rows = np.arange(len(s))
        # (scales, n): P(recorded y | s) under the boundary noise alone
        alone = np.array(
            [
                replace(out, scale=g)._classes(replace(out, scale=g)._boundary_mass(s, 0.0))[
                    rows, yk
                ]
                for g in scales
            ]
        )
        log_alone = np.log(np.maximum(alone, 1e-300))
        plain_loglik = float(np.log(noise[k, yk]).sum())
        fitted, mix, best = noise, 0.5, int(np.argmax(log_alone.sum(axis=1)))
        for _ in range(30):
            first = mix * fitted[k, yk]
            weight = first / (first + (1 - mix) * alone[best])
            fitted, mix = counted(weight), float(weight.mean())
            best = int(np.argmax((1 - weight) @ log_alone.T))
        loglik = float(np.log(mix * fitted[k, yk] + (1 - mix) * alone[best]).sum())
        if loglik > plain_loglik:
            out.noise, out.scale, out.mix = fitted, float(scales[best]), mix
        return out

    @classmethod
    def from_profile(cls, profile: Profile, classes: Sequence[Any]) -> DerivedBins:
        """The profile's bins without label noise; ``classes`` in the model's order.

        Raises:
            ValueError: the profile has no derived target.
        """
        d = profile.target.derive
        if d is None:
            raise ValueError(f"profile '{profile.name}' has no derived target")
        index = {category_key(c): i for i, c in enumerate(classes)}
        return cls(
            edges=np.asarray(d.edges, dtype=float),
            class_of_bin=np.array([index[category_key(c)] for c in d.classes], dtype=int),
            n_classes=len(classes),
        )


@dataclass(eq=False)
class Member:
    """One candidate of the search, as its per-fold fitted pipelines."""

    algorithm: str
    params: dict[str, Any]
    estimators: list[Any]
    kind: MemberKind
    n_classes: int = 0
    cv_score: float = float("nan")
    bins: DerivedBins | None = None
    sigma: float = 0.0  # derived: residual sd of the source regression (out-of-fold)

    def value(self, X: np.ndarray) -> np.ndarray:
        """Regressors and derived members: the predicted number (for derived, the source)."""
        return np.mean([est.predict(X) for est in self.estimators], axis=0)

    def proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, columns in the model's class order."""
        if self.kind == "derived":
            assert self.bins is not None
            return self.bins.proba(self.value(X), self.sigma)
        out = np.zeros((len(X), self.n_classes))
        for est in self.estimators:
            out[:, np.asarray(est.classes_, dtype=int)] += est.predict_proba(X)
        return out / len(self.estimators)

    def output(self, X: np.ndarray) -> np.ndarray:
        """Regressors: values (n_rows,); otherwise probabilities (n_rows, n_classes)."""
        return self.value(X) if self.kind == "regressor" else self.proba(X)


@dataclass(eq=False)
class StudentModel:
    """The trained model of one profile. Takes raw profile columns; does all preprocessing.

    Attributes:
        profile: the dataset profile it was trained for.
        encoder: fitted ordinal :class:`ProfileEncoder` (the matrix every member reads).
        members: ensemble members; ``weights`` sum to 1.
        metric: the metric the search optimised; ``cv_score`` its out-of-fold value.
        threshold: binary decision threshold on P(positive), chosen out-of-fold.
        class_weights: multiclass multipliers of the probabilities before argmax, or None.
        sigma: regression: out-of-fold residual sd (for the risk score).
        reference: per-feature typical values (medians, modal codes) of the training matrix,
            for explanations of members without a SHAP path.
    """

    profile: Profile
    encoder: ProfileEncoder
    members: list[Member]
    weights: list[float]
    metric: str
    cv_score: float
    threshold: float | None = None
    class_weights: list[float] | None = None
    sigma: float | None = None
    reference: np.ndarray | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}  # explainers are rebuilt on demand, never pickled
        return state

    # -- descriptive -----------------------------------------------------------------------

    @property
    def task(self) -> str:
        """The profile's task: binary, multiclass or regression."""
        return self.profile.task

    @property
    def classes_(self) -> list[Any]:
        """Class values; binary: [negative, positive] as ``profile.class_order()``."""
        return self.profile.class_order()

    @property
    def feature_columns(self) -> list[str]:
        """The raw profile columns the model reads."""
        return self.profile.feature_columns

    @property
    def algorithm(self) -> str:
        """The member's algorithm, or ``ensemble(a+b+...)``."""
        if len(self.members) == 1:
            return self.members[0].algorithm
        return "ensemble(" + "+".join(m.algorithm for m in self.members) + ")"

    def class_index(self, values: Iterable[Any]) -> np.ndarray:
        """Positions in ``classes_`` of class values (1, 1.0 and "1" are the same class)."""
        return class_codes(values, self.classes_)

    def class_label(self, value: Any) -> str:
        """The display label of a class value (the profile's ``target.labels``, else the value)."""
        labels = {category_key(k): v for k, v in (self.profile.target.labels or {}).items()}
        return str(labels.get(category_key(value), value))

    def estimator_summary(self) -> dict[str, Any]:
        """Algorithm and parameters, for tracking and the model card."""
        best = self.members[int(np.argmax(self.weights))]
        return {
            "algorithm": self.algorithm,
            "params": dict(best.params),
            "members": [
                {
                    "algorithm": m.algorithm,
                    "params": dict(m.params),
                    "weight": float(w),
                    "cv_score": float(m.cv_score),
                    "folds": len(m.estimators),
                }
                for m, w in zip(self.members, self.weights, strict=True)
            ],
            "metric": self.metric,
            "cv_score": float(self.cv_score),
            "threshold": self.threshold,
            "class_weights": self.class_weights,
        }

    # -- the matrix path (serving) ---------------------------------------------------------

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The (n_rows, n_features) matrix of profile columns, as every member reads it."""
        return self.encoder.transform(frame)

    def encode_records(self, records: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """Encode plain dicts without pandas (the API's fast path)."""
        return self.encoder.encode_records(records)

    def predict_proba_matrix(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (n x n_classes) of an encoded matrix."""
        if self.task == "regression":
            raise TypeError("a regression model has no class probabilities")
        out = np.zeros((len(X), len(self.classes_)))
        for member, w in zip(self.members, self.weights, strict=True):
            out += w * member.proba(X)
        return out

    def predict_value_matrix(self, X: np.ndarray) -> np.ndarray:
        """Regression: the weighted members' values (n_rows,).

        Raises:
            TypeError: a classification model.
        """
        if self.task != "regression":
            raise TypeError("predict_value is for regression models")
        return np.sum(
            [w * m.value(X) for m, w in zip(self.members, self.weights, strict=True)], axis=0
        )

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Class indices from probabilities with the model's decision rule."""
        if self.task == "binary":
            t = 0.5 if self.threshold is None else self.threshold
            return (proba[:, 1] >= t).astype(int)
        if self.class_weights is not None:
            return np.argmax(proba * np.asarray(self.class_weights), axis=1)
        return np.argmax(proba, axis=1)

    def predict_matrix(self, X: np.ndarray) -> np.ndarray:
        """Predicted classes (n_rows,) with the decision rule, or values for a regression."""
        if self.task == "regression":
            return self.predict_value_matrix(X)
        classes = np.empty(len(self.classes_), dtype=object)
        classes[:] = self.classes_
        return classes[self.decide(self.predict_proba_matrix(X))]

    def risk_from_output(self, output: np.ndarray) -> np.ndarray | None:
        """Risk score from probabilities (classification) or values (regression)."""
        if self.task == "regression":
            below = self.profile.target.at_risk_below
            if below is None:
                return None
            from scipy.special import ndtr

            return ndtr((below - output) / max(self.sigma or 0.0, 1e-9))
        return output[:, self.risk_indices()].sum(axis=1)

    def risk_score_matrix(self, X: np.ndarray) -> np.ndarray | None:
        """Risk score in [0, 1] per row (n_rows,), or None for a regression without a cut-off."""
        output = (
            self.predict_value_matrix(X)
            if self.task == "regression"
            else self.predict_proba_matrix(X)
        )
        return self.risk_from_output(output)

    def risk_indices(self) -> list[int]:
        """Classes whose probability is the risk: binary positive, ``at_risk``, or the worst."""
        if self.task == "binary":
            return [1]
        risky = self.profile.risk_classes()
        if risky:
            return list(self.class_index(risky))
        derive = self.profile.target.derive
        if derive is not None:  # the lowest bin of the source (F of a GPA scale)
            return list(self.class_index([derive.classes[0]]))
        return [len(self.classes_) - 1]

    def risk_log_odds_matrix(self, X: np.ndarray) -> np.ndarray | None:
        """The ranking tie-break: log-odds of the risk before averaging, (n,); None without a
        risk.

        Calibrated probabilities saturate (a derived member's label-noise matrix caps P(F) at
        about 0.95 for every student whose predicted GPA is far below 2.0), so many students
        share one risk. Log-odds taken *before* the saturating steps keep their order: per
        classifier fold log(P(at risk)) - log(P(not)), per derived member the log-odds that the
        predicted source falls in the at-risk bins (``log Phi(z) - log Phi(-z)``, before label
        noise), for regression the same of the prediction against ``at_risk_below``; members
        are combined with the ensemble weights. Rank by risk, then by this key.
        """
        from scipy.special import log_ndtr

        if self.task == "regression":
            below = self.profile.target.at_risk_below
            if below is None:
                return None
            z = (below - self.predict_value_matrix(X)) / max(self.sigma or 0.0, 1e-9)
            return np.asarray(log_ndtr(z) - log_ndtr(-z))
        risky = self.risk_indices()
        total = np.zeros(len(X))
        for member, w in zip(self.members, self.weights, strict=True):
            total += w * _member_log_odds(member, X, risky)
        return total

    # -- the DataFrame path ----------------------------------------------------------------

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities (n x n_classes, columns as ``classes_``) of raw profile rows."""
        return self.predict_proba_matrix(self.encode(frame))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Class values (classification, with the stored decision rule) or predicted values."""
        return self.predict_matrix(self.encode(frame))

    def predict_value(self, frame: pd.DataFrame) -> np.ndarray:
        """Regression: the predicted target value."""
        return self.predict_value_matrix(self.encode(frame))

    def risk_score(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Risk in [0, 1] per row.

        Binary: P(positive). Multiclass: summed P of ``profile.risk_classes()`` or, when the
        profile names none, P of the worst class. Regression: P(true value below
        ``target.at_risk_below``) given the prediction and the out-of-fold residual sd, i.e. the
        distance below the bar scaled by that sd through the normal CDF; None without a bar.
        """
        return self.risk_score_matrix(self.encode(frame))


def _log_odds(p: np.ndarray, risky: list[int]) -> np.ndarray:
    """log P(risky classes) - log P(the others), from the class probabilities (n, K)."""
    mask = np.zeros(p.shape[1], dtype=bool)
    mask[risky] = True
    tiny = np.finfo(float).tiny
    return np.log(np.maximum(p[:, mask].sum(axis=1), tiny)) - np.log(
        np.maximum(p[:, ~mask].sum(axis=1), tiny)
    )


def _member_log_odds(member: Member, X: np.ndarray, risky: list[int]) -> np.ndarray:
    """One member's ranking key (see :meth:`StudentModel.risk_log_odds_matrix`)."""
    from scipy.special import log_ndtr

    if member.kind == "derived" and member.bins is not None:
        bins = member.bins
        in_risk = np.isin(bins.class_of_bin, risky)
        k = int(in_risk.sum())
        sigma = max(member.sigma, 1e-9)
        if 0 < k < len(in_risk) and (in_risk[:k].all() or in_risk[-k:].all()):
            value = member.value(X)
            if in_risk[:k].all():  # the lowest bins: at risk below an edge
                z = (bins.edges[k - 1] - value) / sigma
            else:  # the highest bins: at risk above an edge
                z = (value - bins.edges[len(in_risk) - k - 1]) / sigma
            return np.asarray(log_ndtr(z) - log_ndtr(-z))
        return _log_odds(member.proba(X), risky)
    if member.kind == "classifier":
        total = np.zeros(len(X))
        for est in member.estimators:
            p = np.zeros((len(X), member.n_classes))
            p[:, np.asarray(est.classes_, dtype=int)] = est.predict_proba(X)
            total += _log_odds(p, risky)
        return total / len(member.estimators)
    return _log_odds(member.proba(X), risky)
