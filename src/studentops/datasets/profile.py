"""Dataset profiles: a YAML description of an institution's table.

A profile says what each column is (type, range, categories, may it be missing), which column
is the student id, what the target is (as is, mapped, or derived from a numeric source such as
GPA), which columns leak the label, which are sensitive (kept for fairness audits, out of the
features by default), and optional group and period columns used for splitting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from studentops.datasets.formats import Formats
from studentops.errors import ProfileError

ColumnType = Literal["integer", "number", "category", "boolean", "text", "datetime"]
Task = Literal["binary", "multiclass", "regression"]
Scalar = str | int | float | bool


def category_key(value: Any) -> str:
    """Normalise a category value for comparison: 1, 1.0 and "1" are the same category."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    if text[-2:] == ".0" and text[:-2].lstrip("-").isdigit():  # "1.0" read from a CSV
        return text[:-2]
    return text


class Column(BaseModel):
    """One column of the table."""

    model_config = ConfigDict(extra="forbid")

    type: ColumnType
    description: str | None = None
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: list[Scalar] | None = None
    labels: dict[Scalar, str] | None = Field(
        None, description="Human meaning of coded categories, e.g. {0: male, 1: female}."
    )

    @model_validator(mode="after")
    def _check(self) -> Column:
        if self.type == "category" and not self.categories:
            raise ValueError("a category column needs 'categories'")
        if self.type != "category" and self.categories:
            raise ValueError(f"'categories' only applies to category columns, not {self.type}")
        if (self.min is not None or self.max is not None) and self.type not in (
            "integer",
            "number",
        ):
            raise ValueError("'min'/'max' only apply to integer and number columns")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self

    @property
    def category_keys(self) -> list[str]:
        """The declared categories as comparison keys (:func:`category_key`: folded case and
        spaces)."""
        return [category_key(c) for c in self.categories or []]


class Derivation(BaseModel):
    """How the target is derived from a numeric source column (grade bins, a pass mark).

    ``edges`` are ascending cut points; a value v falls in bin i where i counts the edges <= v,
    and ``classes[i]`` is its class. A pass mark of 40 is ``edges: [40], classes: [fail, pass]``.
    """

    model_config = ConfigDict(extra="forbid")

    source: str
    edges: list[float]
    classes: list[Scalar]

    @model_validator(mode="after")
    def _check(self) -> Derivation:
        if len(self.classes) != len(self.edges) + 1:
            raise ValueError(
                f"derive needs len(classes) == len(edges) + 1, got {len(self.classes)} classes "
                f"for {len(self.edges)} edges"
            )
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("derive.edges must be strictly ascending")
        return self

    def apply(self, values: Any) -> np.ndarray:
        """Map source values to classes (NaN stays missing as None)."""
        arr = np.asarray(values, dtype=float)
        idx = np.searchsorted(np.asarray(self.edges, dtype=float), arr, side="right")
        out = np.asarray(self.classes, dtype=object)[idx]
        out[np.isnan(arr)] = None
        return out


class Target(BaseModel):
    """The outcome to predict."""

    model_config = ConfigDict(extra="forbid")

    column: str
    task: Task
    positive: Scalar | None = Field(None, description="Positive class of a binary task.")
    negative_label: str | None = Field(
        None, description="Name of the non-positive class when a binary target is 'X vs not'."
    )
    mapping: dict[Scalar, Scalar] | None = Field(
        None, description="Map raw target values to classes (merge or rename)."
    )
    derive: Derivation | None = None
    labels: dict[Scalar, str] | None = Field(None, description="Display names of classes.")
    at_risk: list[Scalar] | None = Field(
        None, description="Classes that count as 'at risk' (risk score = their probability)."
    )
    at_risk_below: float | None = Field(
        None, description="Regression: a predicted value below this counts as at risk."
    )

    @model_validator(mode="after")
    def _check(self) -> Target:
        if self.task == "binary" and self.positive is None:
            raise ValueError("a binary target needs 'positive'")
        if self.task == "regression" and (self.mapping or self.positive is not None):
            raise ValueError("a regression target takes neither 'mapping' nor 'positive'")
        return self


class Source(BaseModel):
    """Where a built-in profile finds its data by default (relative to settings.data_dir)."""

    model_config = ConfigDict(extra="forbid")

    file: str
    sep: str | None = None


class Profile(BaseModel):
    """A dataset profile. Load with :func:`load_profile`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str | None = None
    source: Source | None = None
    id: str | None = None
    columns: dict[str, Column]
    target: Target
    leaks: list[str] = Field(default_factory=list)
    sensitive: list[str] = Field(default_factory=list)
    sensitive_as_features: bool = False
    drop: list[str] = Field(default_factory=list, description="Columns never used as features.")
    group: str | None = None
    period: str | None = None
    # -- output: how risk lists speak (docs/serving.md) -----------------------------------
    feature_groups: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            "Correlated features explained as one reason, e.g. {'2nd-semester curricular "
            "units': [enrolled, approved, grade]}: their contributions are summed."
        ),
    )

    @model_validator(mode="after")
    def _check_feature_groups(self) -> Profile:
        seen: dict[str, str] = {}
        for name, members in self.feature_groups.items():
            if not members:
                raise ValueError(f"feature_groups.{name}: list at least one column")
            for col in members:
                if col not in self.columns:
                    raise ValueError(f"feature_groups.{name}: column '{col}' is not in 'columns'")
                if col in seen:
                    raise ValueError(
                        f"feature_groups.{name}: column '{col}' is already in group '{seen[col]}'"
                    )
                seen[col] = name
        return self

    def value_label(self, column: str, value: Any) -> str | None:
        """The display name of ``value`` in ``column``: its profile label, 'yes'/'no' for a
        boolean, else None (the value speaks for itself)."""
        col = self.columns.get(column)
        if col is None or is_missing(value):
            return None
        if col.labels:
            key = category_key(value)
            for k, label in col.labels.items():
                if category_key(k) == key:
                    return label
        if col.type == "boolean":
            flag = BOOLEAN_TEXT.get(category_key(value).lower())
            return None if flag is None else ("yes" if flag else "no")
        return None

    def class_label(self, value: Any) -> str:
        """The display name of a target class (its label, else the class itself as text)."""
        key = category_key(value)
        for k, label in (self.target.labels or {}).items():
            if category_key(k) == key:
                return label
        return key

    def class_labels(self, classes: Sequence[Any]) -> list[str]:
        """What every output names the classes (n_classes,): their labels, or the classes as
        text where two labels would clash (the API, files, stream results and the MLflow
        model all use this)."""
        labels = [self.class_label(c) for c in classes]
        return labels if len(set(labels)) == len(labels) else [category_key(c) for c in classes]

    def __setstate__(self, state: dict[Any, Any]) -> None:
        """Unpickle a profile saved before a key existed (a registered champion) with that
        key's default, so models trained by an older studentops keep loading and explaining."""
        super().__setstate__(state)
        for name, info in type(self).model_fields.items():
            if name not in self.__dict__:
                self.__dict__[name] = info.get_default(call_default_factory=True)

    # -- end of output keys ---------------------------------------------------------------
    # -- input formats (issue 10, docs/data.md) ------------------------------------------
    formats: Formats = Field(
        default_factory=Formats,
        description="How cells are written: decimal mark, thousands, NA tokens, dates, encoding.",
    )

    @model_validator(mode="after")
    def _check(self) -> Profile:
        named = {
            "id": [self.id] if self.id else [],
            "leaks": self.leaks,
            "sensitive": self.sensitive,
            "drop": self.drop,
            "group": [self.group] if self.group else [],
            "period": [self.period] if self.period else [],
        }
        for key, cols in named.items():
            for col in cols:
                if col not in self.columns:
                    raise ValueError(f"{key}: column '{col}' is not in 'columns'")
        if self.target.derive is not None:
            src = self.target.derive.source
            if src not in self.columns:
                raise ValueError(f"target.derive.source: column '{src}' is not in 'columns'")
            if self.columns[src].type not in ("integer", "number"):
                raise ValueError(f"target.derive.source: column '{src}' must be numeric")
        elif self.target.column not in self.columns:
            raise ValueError(f"target.column: '{self.target.column}' is not in 'columns'")
        if not self.feature_columns:
            raise ValueError("the profile leaves no feature columns")
        return self

    # -- derived views -------------------------------------------------------------------

    @property
    def task(self) -> Task:
        """The prediction task of the target: ``binary``, ``multiclass`` or ``regression``."""
        return self.target.task

    @property
    def target_source(self) -> str | None:
        """The numeric column the target is derived from (``target.derive.source``), if any."""
        return self.target.derive.source if self.target.derive else None

    @property
    def non_features(self) -> set[str]:
        """Columns never used as model features: id, target and its source, leaks, dropped, group,
        period, and the sensitive columns unless ``sensitive_as_features``.
        """
        out = {self.target.column, *self.leaks, *self.drop}
        if self.id:
            out.add(self.id)
        if self.target_source:
            out.add(self.target_source)
        if not self.sensitive_as_features:
            out.update(self.sensitive)
        if self.group:
            out.add(self.group)
        if self.period:
            out.add(self.period)
        return out

    @property
    def feature_columns(self) -> list[str]:
        """Columns a model may use, in profile order (text columns are never features)."""
        return [
            name
            for name, col in self.columns.items()
            if name not in self.non_features and col.type != "text"
        ]

    @property
    def categorical_features(self) -> list[str]:
        """Feature columns encoded as categories (``category`` and ``boolean`` types), profile
        order."""
        return [c for c in self.feature_columns if self.columns[c].type in ("category", "boolean")]

    def class_order(self) -> list[Any]:
        """Classes in a stable order; for binary, the positive class is last (probability[:, 1]).

        Raises:
            ProfileError: the target's classes cannot be told from the profile.
        """
        t = self.target
        if t.task == "regression":
            return []
        if t.task == "binary":
            return [self.negative_class, t.positive]
        if t.derive is not None:
            return sorted(set(t.derive.classes), key=category_key)
        if t.mapping:
            return sorted(set(t.mapping.values()), key=category_key)
        col = self.columns.get(t.column)
        if col is not None and col.categories:
            return list(col.categories)
        raise ProfileError(f"profile '{self.name}': cannot tell the classes of the target")

    @property
    def negative_class(self) -> Scalar:
        """The binary target's class that is not ``positive`` (the "not at risk" class).

        Taken from ``negative_label``, else the one other value of ``mapping``, else the other of a
        two-category target column.

        Raises:
            ProfileError: the negative class cannot be told from the profile.
        """
        t = self.target
        if t.negative_label:
            return t.negative_label
        if t.mapping:
            others = {v for v in t.mapping.values() if category_key(v) != category_key(t.positive)}
            if len(others) == 1:
                return others.pop()
        col = self.columns.get(t.column)
        if col is not None and col.categories and len(col.categories) == 2:
            return next(c for c in col.categories if category_key(c) != category_key(t.positive))
        return f"not {t.positive}"

    def target_values(self, frame: pd.DataFrame) -> pd.Series:
        """The target for each row: taken, mapped or derived as the profile says.

        Raw values that fall outside the mapping come back missing, so validation can reject
        them with a reason rather than train on them.

        Raises:
            ProfileError: neither the target column nor its source is in ``frame``.
        """
        t = self.target
        has_column = t.column in frame.columns
        if t.derive is not None and t.derive.source in frame.columns:
            # The rule fills in where the target itself is absent (new data may carry only GPA).
            derived = pd.Series(t.derive.apply(frame[t.derive.source]), index=frame.index)
            raw = frame[t.column].where(frame[t.column].notna(), derived) if has_column else derived
        elif has_column:
            raw = frame[t.column]
        else:
            raise ProfileError(f"no target: column '{t.column}' is missing")
        if t.task == "regression":
            return pd.to_numeric(raw, errors="coerce").astype(float)
        lookup: dict[str, Any]
        if t.mapping:
            lookup = {category_key(k): v for k, v in t.mapping.items()}
        else:
            lookup = {category_key(c): c for c in self._raw_classes()}
        if t.task == "binary":
            pos, neg = category_key(t.positive), self.negative_class
            lookup = {k: (t.positive if category_key(v) == pos else neg) for k, v in lookup.items()}

        def to_class(value: Any) -> Any:
            return None if is_missing(value) else lookup.get(category_key(value))

        return _map_unique(raw, to_class)

    def _raw_classes(self) -> list[Any]:
        t = self.target
        if t.derive is not None:
            return list(t.derive.classes)
        col = self.columns.get(t.column)
        if col is not None and col.categories:
            return list(col.categories)
        if t.task == "binary" and col is not None and col.type == "boolean":
            return [True, False]
        return self.class_order()

    def risk_classes(self) -> list[Any]:
        """Classes whose probability is the risk score."""
        t = self.target
        if t.task == "binary":
            return [t.positive]
        if t.at_risk:
            return list(t.at_risk)
        return []

    def to_yaml(self) -> str:
        """The profile as YAML, without defaults (what ``profile show`` prints and MLflow logs)."""
        data = self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        data = {"name": self.name, **data}
        return yaml.safe_dump(
            data, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100
        )


def _map_unique(values: pd.Series, func: Any) -> pd.Series:
    """Apply a Python function once per distinct value (a million rows, a handful of classes)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([func(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=values.index, dtype=object)


# How boolean cells may be written; validation and the serving encoder share one table.
BOOLEAN_TEXT = {
    **dict.fromkeys(("true", "1", "1.0", "yes", "y", "t"), 1.0),
    **dict.fromkeys(("false", "0", "0.0", "no", "n", "f"), 0.0),
}


def is_missing(value: Any) -> bool:
    """None, NA, NaN or blank text: the cell says nothing."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


# -- loading ---------------------------------------------------------------------------------


def _format_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "profile"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}"


def parse_profile(data: Any, origin: str = "profile") -> Profile:
    """Validate a profile mapping; a problem becomes one clear ProfileError line.

    Raises:
        ProfileError: ``data`` is not a mapping or breaks the profile schema (the first problem).
    """
    if not isinstance(data, dict):
        raise ProfileError(f"{origin}: a profile must be a YAML mapping")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{origin}: {_format_error(exc)}") from exc


def profile_from_file(path: str | Path) -> Profile:
    """Load and check a profile from a YAML file.

    Raises:
        ProfileError: the file is missing, not YAML, or not a valid profile (one line).
    """
    p = Path(path)
    if not p.is_file():
        raise ProfileError(f"profile file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{p}: not valid YAML ({exc.__class__.__name__})") from exc
    return parse_profile(data, origin=str(p))


def builtin_profile_names() -> list[str]:
    """Names of the profiles shipped as package data (``datasets/profiles/*.yaml``), sorted."""
    folder = resources.files("studentops.datasets") / "profiles"
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    )


def _builtin_text(name: str) -> str | None:
    entry = resources.files("studentops.datasets") / "profiles" / f"{name}.yaml"
    return entry.read_text(encoding="utf-8") if entry.is_file() else None


def load_profile(name_or_path: str | Path, profiles_dir: Path | None = None) -> Profile:
    """Load a profile by built-in name, by name in ``profiles_dir``, or from a YAML path.

    Raises:
        ProfileError: no built-in profile, profile in ``profiles_dir`` or YAML file of that name,
            or the file found is not a valid profile.
    """
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return profile_from_file(text)
    if profiles_dir is not None:
        candidate = Path(profiles_dir) / f"{text}.yaml"
        if candidate.is_file():
            return profile_from_file(candidate)
    builtin = _builtin_text(text)
    if builtin is None:
        known = ", ".join(builtin_profile_names())
        raise ProfileError(f"unknown profile '{text}' (built-in: {known}; or give a YAML path)")
    return parse_profile(yaml.safe_load(builtin), origin=f"built-in profile {text}")


def resolve_profile(ref: str | Path | Profile, settings: Any = None) -> Profile:
    """THE way every command, the API and the workers turn ``--profile`` into a Profile.

    ``ref`` is a Profile, a YAML path, a name in ``settings.profiles_dir`` or a built-in name
    (in that order, see :func:`load_profile`). The registered model of the result is found by
    its ``name``, so a path and a name reach the same model.

    Raises:
        ProfileError: nothing by that name or path, or the YAML is not a valid profile.
    """
    if isinstance(ref, Profile):
        return ref
    if settings is None:
        from studentops.config import load_settings

        settings = load_settings()
    return load_profile(ref, settings.profiles_dir)


def profile_name(ref: str | Path | Profile, settings: Any = None) -> str:
    """The profile's name (what its registered model is called after), from any reference.

    A plain name that no profile file answers to is taken as the name itself: a registered
    model carries its profile, so promoting or scoring it needs no YAML at hand.

    Raises:
        ProfileError: a YAML path that is missing or not a valid profile.
    """
    if isinstance(ref, Profile):
        return ref.name
    text = str(ref)
    looks_like_path = text.endswith((".yaml", ".yml")) or "/" in text or Path(text).is_file()
    try:
        return resolve_profile(ref, settings).name
    except ProfileError:
        if looks_like_path:
            raise
        return text
