"""Raw profile columns -> one numeric matrix, the same way for a DataFrame and for plain dicts.

Training sees validated DataFrames; the API sees JSON records. Both must produce exactly the
same matrix, or a served model silently scores different numbers than it was evaluated on. So
both paths share the scalar conversions below: the DataFrame path applies them to each column's
distinct values (fast on big frames), the records path applies them cell by cell without pandas
(fast for one row).

Columns with no value in any training row are left out of the layout (``empty_columns_``):
a model cannot learn from them and some cannot even fit on them (scikit-learn's
HistGradientBoosting fails on an all-NaN column). Scoring ignores them, present or not, with or
without values.

Layout of the output: numeric and boolean features first (as float, NaN when missing), then
categorical features, either as ordinal codes (the index of the value in the profile's category
list, NaN when missing or unknown: tree models split on it and handle NaN) or one-hot blocks (all
zeros when missing or unknown: linear models and k-NN need no imputation for it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from studentops.datasets.contract import Formats, Rule, column_rule
from studentops.datasets.profile import Profile, category_key, is_missing
from studentops.errors import DataError

_NAN = float("nan")


def to_float(value: Any, rule: Rule | None = None) -> float:
    """A numeric or boolean cell as float by the data contract; missing or refused is NaN.

    ``rule`` is the column's contract (default: a number in the default formats). Validation
    has already refused what the contract refuses, so NaN here only meets rows that skipped it.
    """
    if type(value) is float:  # the common, already validated case
        return value
    verdict = (rule or _DEFAULT_NUMBER)(value)
    if verdict.reject is not None or verdict.value is None:
        return _NAN
    if isinstance(verdict.value, dt.datetime):  # a date feature: days since 1970-01-01
        return (verdict.value - _EPOCH).total_seconds() / 86_400.0
    return float(verdict.value)


def to_code(value: Any, lookup: Mapping[str, int], rule: Rule | None = None) -> float:
    """A category cell as its index in the profile's categories; missing or unknown is NaN."""
    if is_missing(value):
        return _NAN
    code = lookup.get(category_key(value))
    if code is None and rule is not None:
        verdict = rule(value)  # folded case and spaces, "2.0" for category 2
        if verdict.reject is None and verdict.value is not None:
            code = lookup.get(category_key(verdict.value))
    return _NAN if code is None else float(code)


def encoding_rule(profile: Profile, column: str) -> Rule:
    """The contract of a feature column without its range or required check (validation's
    job): the encoder only converts."""
    rule = column_rule(column, profile.columns[column], profile.formats, required=False)
    return replace(rule, minimum=None, maximum=None)


_EPOCH = dt.datetime(1970, 1, 1)
_DEFAULT_NUMBER = Rule("value", "number", required=False, formats=Formats())


def empty_columns(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The ``columns`` absent from ``frame`` or missing (NaN, None, NA) in every one of its rows.

    Args:
        frame: raw profile columns, ``(n_rows, n_columns)``; no row at all counts as empty.
        columns: the feature columns to check, in order.

    Returns:
        The empty ones, in ``columns`` order.
    """
    out = []
    for c in columns:
        if c not in frame.columns or not bool(frame[c].notna().any()):
            out.append(c)
        elif frame[c].dtype == object and all(is_missing(v) for v in frame[c].dropna().unique()):
            out.append(c)  # only missing tokens ("", "NA") in rows that skipped validation
    return out


def codes_to_onehot(codes: np.ndarray, n_categories: Sequence[int]) -> np.ndarray:
    """Expand ordinal code columns into one-hot blocks; NaN gives an all-zero block."""
    n = codes.shape[0]
    out = np.zeros((n, int(sum(n_categories))), dtype=float)
    start = 0
    rows = np.arange(n)
    for j, k in enumerate(n_categories):
        col = codes[:, j]
        ok = ~np.isnan(col)
        idx = col[ok].astype(np.intp)
        inside = (idx >= 0) & (idx < k)
        out[rows[ok][inside], start + idx[inside]] = 1.0
        start += k
    return out


class CodesOneHot(TransformerMixin, BaseEstimator):
    """Turn the ordinal code columns of a :class:`ProfileEncoder` matrix into one-hot blocks.

    Model pipelines start from the ordinal matrix (one column per raw feature), so the serving
    path encodes a record once whatever the members of an ensemble need; linear and k-NN members
    expand the codes here.

    Args:
        categorical_indices: positions of the code columns in the input matrix.
        n_categories: number of categories of each code column (same order).
    """

    def __init__(self, categorical_indices: Sequence[int] = (), n_categories: Sequence[int] = ()):
        self.categorical_indices = categorical_indices
        self.n_categories = n_categories

    def fit(self, X: np.ndarray, y: Any = None) -> CodesOneHot:
        """Learn which input columns are numeric and which output columns each code column becomes.

        Args:
            X: the ordinal matrix, shape ``(n_rows, n_features)``.
            y: ignored (scikit-learn's signature).

        Raises:
            ValueError: ``categorical_indices`` and ``n_categories`` differ in length.
        """
        X = np.asarray(X, dtype=float)
        cat = list(self.categorical_indices)
        if len(cat) != len(list(self.n_categories)):
            raise ValueError("categorical_indices and n_categories differ in length")
        self.n_features_in_ = X.shape[1]
        self.numeric_indices_ = [i for i in range(X.shape[1]) if i not in set(cat)]
        # For each output column, the input column it comes from (explanations map back with it).
        self.source_index_ = np.array(
            self.numeric_indices_
            + [i for i, k in zip(cat, self.n_categories, strict=True) for _ in range(k)],
            dtype=np.intp,
        )
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Numeric columns first, then one one-hot block per code column.

        Args:
            X: the ordinal matrix, shape ``(n_rows, n_features)``.

        Returns:
            Shape ``(n_rows, n_numeric + sum(n_categories))``; a missing or unknown code is all
            zeros in its block.
        """
        X = np.asarray(X, dtype=float)
        cat = list(self.categorical_indices)
        if not cat:
            return X
        return np.hstack(
            [X[:, self.numeric_indices_], codes_to_onehot(X[:, cat], list(self.n_categories))]
        )


class ProfileEncoder(TransformerMixin, BaseEstimator):
    """The profile's feature columns as a float matrix (see the module docstring for the layout).

    Args:
        profile: the dataset profile; its ``feature_columns`` are the inputs.
        one_hot: categories as one-hot blocks (linear models, k-NN) instead of ordinal codes
            (tree models).

    Extra columns in the input are ignored; absent feature columns count as missing, so a
    request that omits an optional field still scores. Feature columns with no value in any
    row given to :meth:`fit` are left out of the output (``empty_columns_``) and ignored by
    :meth:`transform` and :meth:`encode_records`, whether they arrive with values or not.
    """

    def __init__(self, profile: Profile | None = None, one_hot: bool = False):
        self.profile = profile
        self.one_hot = one_hot

    # -- fit -----------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame | None = None, y: Any = None) -> ProfileEncoder:
        """Fix the column layout from the profile (categories come from it, not from the data,
        so a category missing from the training rows still has its place).

        Args:
            X: the training rows, ``(n_rows, n_columns)`` of raw profile columns; a feature
                column absent from ``X`` or missing in every row is left out of the layout
                and listed in ``empty_columns_``. None: the profile's layout, nothing left out.
            y: ignored (scikit-learn's signature).

        Raises:
            ValueError: the encoder has no profile.
            DataError: every feature is empty in ``X``.
        """
        if self.profile is None:
            raise ValueError("ProfileEncoder needs a profile")
        p = self.profile
        features = p.feature_columns
        self.empty_columns_ = [] if X is None else empty_columns(X, features)
        if features and len(self.empty_columns_) == len(features):
            raise DataError("no usable feature: every feature is empty in the training rows")
        used = [c for c in features if c not in set(self.empty_columns_)]
        self.numeric_ = [c for c in used if p.columns[c].type != "category"]
        self.categorical_ = [c for c in used if p.columns[c].type == "category"]
        self.categories_ = {c: list(p.columns[c].categories or []) for c in self.categorical_}
        self.lookup_ = {
            c: {category_key(v): i for i, v in enumerate(cats)}
            for c, cats in self.categories_.items()
        }
        self.n_categories_ = [len(self.categories_[c]) for c in self.categorical_]
        self.feature_names_in_ = np.array(features, dtype=object)
        self.n_features_in_ = len(features)
        n_num = len(self.numeric_)
        # Ordinal positions of the code columns: what tree models treat as categorical.
        self.categorical_indices_ = list(range(n_num, n_num + len(self.categorical_)))
        names: list[str] = list(self.numeric_)
        sources: list[str] = list(self.numeric_)
        if self.one_hot:
            for c in self.categorical_:
                for v in self.categories_[c]:
                    names.append(f"{c}={v}")
                    sources.append(c)
        else:
            names.extend(self.categorical_)
            sources.extend(self.categorical_)
        self.feature_names_out_ = np.array(names, dtype=object)
        self.source_columns_ = sources
        self._plan = self._build_plan()
        return self

    def _build_plan(self) -> list[tuple[str, Mapping[str, int] | None, Rule]]:
        assert self.profile is not None
        p = self.profile
        plan: list[tuple[str, Mapping[str, int] | None, Rule]] = [
            (c, None, encoding_rule(p, c)) for c in self.numeric_
        ]
        plan.extend((c, self.lookup_[c], encoding_rule(p, c)) for c in self.categorical_)
        return plan

    @property
    def feature_names_out(self) -> list[str]:
        """Names of the output columns (``col=value`` for one-hot blocks)."""
        return list(self.feature_names_out_)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names (scikit-learn's API), shape ``(n_output_features,)``."""
        return self.feature_names_out_.copy()

    # -- transform -----------------------------------------------------------------------

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Encode a DataFrame of raw profile columns.

        Raises:
            ValueError: the encoder is not fitted.
        """
        if not hasattr(self, "_plan"):
            raise ValueError("ProfileEncoder is not fitted")
        n = len(X)
        ordinal = np.full((n, len(self._plan)), np.nan, dtype=float)
        for j, (col, lookup, rule) in enumerate(self._plan):
            if col not in X.columns:
                continue
            ordinal[:, j] = self._encode_column(X[col], lookup, rule)
        return self._finish(ordinal)

    @staticmethod
    def _encode_column(
        values: pd.Series, lookup: Mapping[str, int] | None, rule: Rule
    ) -> np.ndarray:
        if lookup is None and pd.api.types.is_float_dtype(values.dtype):
            return values.to_numpy(dtype=float, na_value=np.nan)
        # Convert each distinct value once with the same scalar rule as the records path.
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        if lookup is None:
            mapped = np.array([to_float(v, rule) for v in uniques], dtype=float)
        else:
            mapped = np.array([to_code(v, lookup, rule) for v in uniques], dtype=float)
        out = np.full(len(values), np.nan, dtype=float)
        ok = codes >= 0
        if len(mapped):
            out[ok] = mapped[codes[ok]]
        return out

    def encode_records(self, records: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """Encode plain dicts (the serving fast path): same matrix as :meth:`transform`."""
        plan = self._plan
        rows = []
        for rec in records:
            get = rec.get
            rows.append(
                [
                    to_float(get(col), rule) if lookup is None else to_code(get(col), lookup, rule)
                    for col, lookup, rule in plan
                ]
            )
        ordinal = np.array(rows, dtype=float).reshape(len(rows), len(plan))
        return self._finish(ordinal)

    def _finish(self, ordinal: np.ndarray) -> np.ndarray:
        if not self.one_hot or not self.categorical_:
            return ordinal
        n_num = len(self.numeric_)
        return np.hstack(
            [ordinal[:, :n_num], codes_to_onehot(ordinal[:, n_num:], self.n_categories_)]
        )

    def onehot_step(self) -> CodesOneHot:
        """A :class:`CodesOneHot` that expands this (ordinal) encoder's code columns."""
        return CodesOneHot(list(self.categorical_indices_), list(self.n_categories_))
