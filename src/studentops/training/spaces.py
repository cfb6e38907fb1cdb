"""Search spaces: which algorithms the search tries and the hyperparameters of each.

Every candidate is a pipeline that starts from the ordinal matrix of
:class:`~studentops.features.encode.ProfileEncoder` (one column per raw feature, NaN when
missing), so one encoding serves every member of an ensemble. Tree models read it as is;
linear models and k-NN expand the codes to one-hot, impute and scale first.

Each algorithm has a ``default`` configuration that the search tries first (warm start, like
FLAML's starting points): a strong baseline lands in the first seconds whatever the budget.

Threads: every estimator is single-threaded. The search runs trials in parallel threads instead,
which on 2 small cores beats OpenMP inside one fit (no barrier spinning when another process
takes a core) and leaves served models single-threaded too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from studentops.training.budget import Deadline

Spec = tuple[Any, ...]  # ("float", lo, hi, log) | ("int", lo, hi, log) | ("cat", [choices])
Family = Literal["linear", "tree", "gbm", "knn"]

DERIVED_PREFIX = "derived:"


@dataclass(frozen=True)
class Context:
    """What a space and a builder need to know about the data and the options."""

    task: str  # task of the estimator: binary, multiclass or regression
    n_rows: int
    n_features: int = 0
    n_classes: int = 0
    categorical_indices: tuple[int, ...] = ()
    n_categories: tuple[int, ...] = ()
    seed: int = 42
    balanced: bool = False
    smote: bool = False


@dataclass(frozen=True)
class Algorithm:
    """One algorithm of the search: its space, warm-start defaults and how to build it."""

    name: str
    family: Family
    tasks: tuple[str, ...]
    space: Callable[[Context], dict[str, Spec]]
    starts: tuple[dict[str, Any], ...]  # warm-start configurations; the first is the default
    make: Callable[[dict[str, Any], Context], Any]
    # Relative cost of one fit; the search learns seconds per unit from the folds it has run.
    cost: Callable[[dict[str, Any], Context], float] = field(default=lambda p, ctx: 1.0)

    @property
    def default(self) -> dict[str, Any]:
        """The first warm-start configuration: the algorithm's default parameters."""
        return self.starts[0]

    def suggest(self, trial: Any, prefix: str, ctx: Context) -> dict[str, Any]:
        """Draw this algorithm's parameters from an Optuna trial (names carry ``prefix``)."""
        params: dict[str, Any] = {}
        for name, spec in self.space(ctx).items():
            key = prefix + name
            kind = spec[0]
            if kind == "float":
                params[name] = trial.suggest_float(key, spec[1], spec[2], log=spec[3])
            elif kind == "int":
                params[name] = trial.suggest_int(key, spec[1], spec[2], log=spec[3])
            else:
                params[name] = trial.suggest_categorical(key, spec[1])
        return params


# -- builders --------------------------------------------------------------------------------


def _logreg(p: dict[str, Any], ctx: Context) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=p["C"], max_iter=2000, class_weight="balanced" if ctx.balanced else None
    )


def _ridge(p: dict[str, Any], ctx: Context) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(alpha=p["alpha"])


def _lasso(p: dict[str, Any], ctx: Context) -> Any:
    from sklearn.linear_model import Lasso

    return Lasso(alpha=p["alpha"], max_iter=5000, random_state=ctx.seed)


def _knn(p: dict[str, Any], ctx: Context) -> Any:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    k = min(p["n_neighbors"], max(1, int(ctx.n_rows * 0.75)))
    cls = KNeighborsRegressor if ctx.task == "regression" else KNeighborsClassifier
    return cls(n_neighbors=k, weights=p["weights"], n_jobs=1)


def _forest(extra: bool) -> Callable[[dict[str, Any], Context], Any]:
    def make(p: dict[str, Any], ctx: Context) -> Any:
        from sklearn import ensemble

        if ctx.task == "regression":
            cls = ensemble.ExtraTreesRegressor if extra else ensemble.RandomForestRegressor
            return cls(
                n_estimators=p["n_estimators"],
                max_features=p["max_features"],
                min_samples_leaf=p["min_samples_leaf"],
                n_jobs=1,
                random_state=ctx.seed,
            )
        cls = ensemble.ExtraTreesClassifier if extra else ensemble.RandomForestClassifier
        return cls(
            n_estimators=p["n_estimators"],
            max_features=p["max_features"],
            min_samples_leaf=p["min_samples_leaf"],
            n_jobs=1,
            random_state=ctx.seed,
            class_weight="balanced" if ctx.balanced else None,
        )

    return make


def _hist_gb(p: dict[str, Any], ctx: Context) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    common = dict(
        learning_rate=p["learning_rate"],
        max_iter=p["max_iter"],
        max_leaf_nodes=p["max_leaf_nodes"],
        min_samples_leaf=p["min_samples_leaf"],
        l2_regularization=p["l2_regularization"],
        early_stopping=False,
        random_state=ctx.seed,
        categorical_features=list(ctx.categorical_indices) if p["native_categorical"] else None,
    )
    if ctx.task == "regression":
        return HistGradientBoostingRegressor(**common)
    return HistGradientBoostingClassifier(
        class_weight="balanced" if ctx.balanced else None, **common
    )


def _lightgbm(p: dict[str, Any], ctx: Context) -> Any:
    import lightgbm as lgb

    common = dict(
        n_estimators=p["n_estimators"],
        learning_rate=p["learning_rate"],
        num_leaves=p["num_leaves"],
        min_child_samples=p["min_child_samples"],
        subsample=p["subsample"],
        subsample_freq=1 if p["subsample"] < 1.0 else 0,
        colsample_bytree=p["colsample_bytree"],
        reg_lambda=p["reg_lambda"],
        random_state=ctx.seed,
        n_jobs=1,
        verbose=-1,
    )
    if ctx.task == "regression":
        return lgb.LGBMRegressor(**common)
    return lgb.LGBMClassifier(class_weight="balanced" if ctx.balanced else None, **common)


def _xgboost(p: dict[str, Any], ctx: Context) -> Any:
    import xgboost as xgb

    common = dict(
        n_estimators=p["n_estimators"],
        learning_rate=p["learning_rate"],
        max_depth=p["max_depth"],
        min_child_weight=p["min_child_weight"],
        subsample=p["subsample"],
        colsample_bytree=p["colsample_bytree"],
        reg_lambda=p["reg_lambda"],
        tree_method="hist",
        random_state=ctx.seed,
        n_jobs=1,
    )
    if ctx.task == "regression":
        return xgb.XGBRegressor(**common)
    return xgb.XGBClassifier(**common)


def _catboost(p: dict[str, Any], ctx: Context) -> Any:
    import catboost as cb

    common = dict(
        iterations=p["iterations"],
        learning_rate=p["learning_rate"],
        depth=p["depth"],
        l2_leaf_reg=p["l2_leaf_reg"],
        random_seed=ctx.seed,
        thread_count=1,
        verbose=0,
        allow_writing_files=False,
    )
    if ctx.task == "regression":
        return cb.CatBoostRegressor(**common)
    return cb.CatBoostClassifier(auto_class_weights="Balanced" if ctx.balanced else None, **common)


# -- spaces ----------------------------------------------------------------------------------


def _gbm_space(ctx: Context) -> dict[str, Spec]:
    return {
        "n_estimators": ("int", 30, 1000, True),
        "learning_rate": ("float", 0.01, 0.3, True),
        "num_leaves": ("int", 4, 128, True),
        "min_child_samples": ("int", 3, 100, True),
        "subsample": ("float", 0.5, 1.0, False),
        "colsample_bytree": ("float", 0.3, 1.0, False),
        "reg_lambda": ("float", 1e-3, 10.0, True),
    }


def _forest_space(ctx: Context) -> dict[str, Spec]:
    return {
        "n_estimators": ("int", 100, 400, True),
        "max_features": ("float", 0.1, 1.0, False),
        "min_samples_leaf": ("int", 1, 30, True),
    }


def _outputs(ctx: Context) -> int:
    return ctx.n_classes if ctx.task == "multiclass" else 1


def _cost_lightgbm(p: dict[str, Any], ctx: Context) -> float:
    return p["n_estimators"] * (1 + p["num_leaves"] / 32) * p["colsample_bytree"] * _outputs(ctx)


def _cost_xgboost(p: dict[str, Any], ctx: Context) -> float:
    return p["n_estimators"] * p["max_depth"] * p["colsample_bytree"] * _outputs(ctx)


def _cost_catboost(p: dict[str, Any], ctx: Context) -> float:
    return p["iterations"] * p["depth"] * _outputs(ctx)


def _cost_hist_gb(p: dict[str, Any], ctx: Context) -> float:
    return p["max_iter"] * (1 + p["max_leaf_nodes"] / 32) * _outputs(ctx)


def _cost_forest(p: dict[str, Any], ctx: Context) -> float:
    return p["n_estimators"] * max(0.1, p["max_features"])


_ALL = ("binary", "multiclass", "regression")
_CLS = ("binary", "multiclass")

ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in [
        Algorithm(
            "logistic_regression",
            "linear",
            _CLS,
            lambda ctx: {"C": ("float", 1e-3, 100.0, True)},
            ({"C": 1.0},),
            _logreg,
        ),
        Algorithm(
            "ridge",
            "linear",
            ("regression",),
            lambda ctx: {"alpha": ("float", 1e-3, 1e3, True)},
            ({"alpha": 1.0},),
            _ridge,
        ),
        Algorithm(
            "lasso",
            "linear",
            ("regression",),
            lambda ctx: {"alpha": ("float", 1e-4, 10.0, True)},
            ({"alpha": 0.01},),
            _lasso,
        ),
        Algorithm(
            "lightgbm",
            "gbm",
            _ALL,
            lambda ctx: {**_gbm_space(ctx), "native_categorical": ("cat", [False, True])},
            (
                {
                    "n_estimators": 100,
                    "learning_rate": 0.1,
                    "num_leaves": 31,
                    "min_child_samples": 20,
                    "subsample": 1.0,
                    "colsample_bytree": 1.0,
                    "reg_lambda": 1e-3,
                    "native_categorical": False,
                },
                # slower learning, smaller trees, feature and row subsampling: often better on
                # a few thousand rows
                {
                    "n_estimators": 300,
                    "learning_rate": 0.03,
                    "num_leaves": 15,
                    "min_child_samples": 20,
                    "subsample": 0.8,
                    "colsample_bytree": 0.5,
                    "reg_lambda": 1.0,
                    "native_categorical": False,
                },
            ),
            _lightgbm,
            cost=_cost_lightgbm,
        ),
        Algorithm(
            "catboost",
            "gbm",
            _ALL,
            lambda ctx: {
                "iterations": ("int", 50, 600, True),
                "learning_rate": ("float", 0.02, 0.3, True),
                "depth": ("int", 3, 8, False),
                "l2_leaf_reg": ("float", 1.0, 30.0, True),
            },
            ({"iterations": 300, "learning_rate": 0.08, "depth": 6, "l2_leaf_reg": 3.0},),
            _catboost,
            cost=_cost_catboost,
        ),
        Algorithm(
            "xgboost",
            "gbm",
            _ALL,
            lambda ctx: {
                "n_estimators": ("int", 30, 600, True),
                "learning_rate": ("float", 0.01, 0.3, True),
                "max_depth": ("int", 2, 8, False),
                "min_child_weight": ("float", 0.5, 20.0, True),
                "subsample": ("float", 0.5, 1.0, False),
                "colsample_bytree": ("float", 0.3, 1.0, False),
                "reg_lambda": ("float", 1e-3, 10.0, True),
            },
            (
                {
                    "n_estimators": 100,
                    "learning_rate": 0.1,
                    "max_depth": 6,
                    "min_child_weight": 1.0,
                    "subsample": 1.0,
                    "colsample_bytree": 1.0,
                    "reg_lambda": 1.0,
                },
                {
                    "n_estimators": 300,
                    "learning_rate": 0.03,
                    "max_depth": 4,
                    "min_child_weight": 2.0,
                    "subsample": 0.8,
                    "colsample_bytree": 0.5,
                    "reg_lambda": 1.0,
                },
            ),
            _xgboost,
            cost=_cost_xgboost,
        ),
        Algorithm(
            "hist_gradient_boosting",
            "gbm",
            _ALL,
            lambda ctx: {
                "learning_rate": ("float", 0.01, 0.3, True),
                "max_iter": ("int", 50, 400, True),
                "max_leaf_nodes": ("int", 4, 64, True),
                "min_samples_leaf": ("int", 5, 100, True),
                "l2_regularization": ("float", 1e-4, 10.0, True),
                "native_categorical": ("cat", [False, True]),
            },
            (
                {
                    "learning_rate": 0.1,
                    "max_iter": 100,
                    "max_leaf_nodes": 31,
                    "min_samples_leaf": 20,
                    "l2_regularization": 1e-4,
                    "native_categorical": False,
                },
            ),
            _hist_gb,
            cost=_cost_hist_gb,
        ),
        Algorithm(
            "random_forest",
            "tree",
            _ALL,
            _forest_space,
            ({"n_estimators": 100, "max_features": 0.3, "min_samples_leaf": 1},),
            _forest(False),
            cost=_cost_forest,
        ),
        Algorithm(
            "extra_trees",
            "tree",
            _ALL,
            _forest_space,
            ({"n_estimators": 100, "max_features": 0.5, "min_samples_leaf": 2},),
            _forest(True),
            cost=_cost_forest,
        ),
        Algorithm(
            "knn",
            "knn",
            _ALL,
            lambda ctx: {
                "n_neighbors": ("int", 3, 100, True),
                "weights": ("cat", ["uniform", "distance"]),
            },
            ({"n_neighbors": 15, "weights": "distance"},),
            _knn,
        ),
    ]
}

# Regressors of a derived target's numeric source (e.g. GPA before it is binned to GradeClass).
DERIVED_BASES = ("ridge", "lightgbm", "catboost")

# Warm-start queue (candidate name, index into its starts): cheap and strong first, so even a
# few seconds give a sound model; slow or rarely winning algorithms last.
WARM_START: tuple[tuple[str, int], ...] = (
    ("logistic_regression", 0),
    ("ridge", 0),
    (DERIVED_PREFIX + "ridge", 0),
    ("lightgbm", 0),
    ("xgboost", 0),
    ("catboost", 0),
    (DERIVED_PREFIX + "lightgbm", 0),
    ("lightgbm", 1),
    ("xgboost", 1),
    ("lasso", 0),
    ("extra_trees", 0),
    ("random_forest", 0),
    ("hist_gradient_boosting", 0),
    (DERIVED_PREFIX + "catboost", 0),
    ("knn", 0),
)


def base_algorithm(name: str) -> Algorithm:
    """The algorithm behind a candidate name (``derived:ridge`` -> ridge)."""
    return ALGORITHMS[name.removeprefix(DERIVED_PREFIX)]


def is_derived(name: str) -> bool:
    """Whether a candidate name regresses a derived target's source (``derived:ridge``)."""
    return name.startswith(DERIVED_PREFIX)


def candidate_names(task: str, derived: bool, exclude: tuple[str, ...] = ()) -> list[str]:
    """Algorithms the search may pick for a task, in warm-start order."""
    names = [n for n, a in ALGORITHMS.items() if task in a.tasks]
    if derived:
        names += [DERIVED_PREFIX + b for b in DERIVED_BASES]
    order: dict[str, int] = {}
    for i, (n, _) in enumerate(WARM_START):
        order.setdefault(n, i)
    names = [n for n in names if n not in exclude and base_algorithm(n).name not in exclude]
    return sorted(names, key=lambda n: order.get(n, len(order)))


def warm_starts(names: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The warm-start configurations of the given candidates, in queue order."""
    queue = [(n, base_algorithm(n).starts[i]) for n, i in WARM_START if n in names]
    queued = {n for n, _ in queue}
    return queue + [(n, base_algorithm(n).default) for n in names if n not in queued]


def build_pipeline(
    name: str, params: dict[str, Any], ctx: Context, y_fit: np.ndarray | None = None
) -> Any:
    """The estimator of one candidate: preprocessing (as the family needs) and the model.

    With ``ctx.smote`` the pipeline is an imbalanced-learn Pipeline whose SMOTE step runs only
    when fitting, i.e. inside each training fold and never on validation or scored rows.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from studentops.features.encode import CodesOneHot

    algo = base_algorithm(name)
    steps: list[tuple[str, Any]] = []
    if algo.family in ("linear", "knn"):
        steps.append(("onehot", CodesOneHot(list(ctx.categorical_indices), list(ctx.n_categories))))
        steps.append(("impute", SimpleImputer(strategy="median", keep_empty_features=True)))
    sampler = _smote(ctx, algo, y_fit) if ctx.smote and ctx.task != "regression" else None
    if sampler is not None:
        if algo.family not in ("linear", "knn"):
            steps.append(("impute", SimpleImputer(strategy="median", keep_empty_features=True)))
        steps.append(("smote", sampler))
    if algo.family in ("linear", "knn"):
        steps.append(("scale", StandardScaler()))
    steps.append(("model", algo.make(params, ctx)))
    if sampler is not None:
        from imblearn.pipeline import Pipeline as ImbPipeline

        return ImbPipeline(steps)
    return Pipeline(steps)


def _smote(ctx: Context, algo: Algorithm, y_fit: np.ndarray | None) -> Any:
    from imblearn.over_sampling import SMOTE, SMOTENC

    smallest = int(np.unique(y_fit, return_counts=True)[1].min()) if y_fit is not None else 6
    if smallest < 2:
        return None
    k = min(5, smallest - 1)
    cats = list(ctx.categorical_indices)
    # On the ordinal matrix, codes are categories: SMOTENC copies them instead of averaging.
    if cats and algo.family not in ("linear", "knn") and len(cats) < ctx.n_features:
        return SMOTENC(categorical_features=cats, k_neighbors=k, random_state=ctx.seed)
    return SMOTE(k_neighbors=k, random_state=ctx.seed)


def fit_params(
    name: str,
    params: dict[str, Any],
    ctx: Context,
    y_fit: np.ndarray,
    deadline: Deadline | None = None,
) -> dict[str, Any]:
    """Extra arguments of ``pipeline.fit``: LightGBM's categorical columns, XGBoost's weights,
    and the deadline callbacks of LightGBM and CatBoost."""
    algo = base_algorithm(name)
    out: dict[str, Any] = {}
    if deadline is not None and algo.name in ("lightgbm", "catboost"):
        out["model__callbacks"] = [deadline]
    if algo.name == "lightgbm" and params.get("native_categorical") and ctx.categorical_indices:
        out["model__categorical_feature"] = list(ctx.categorical_indices)
    if algo.name == "xgboost" and ctx.balanced and not ctx.smote and ctx.task != "regression":
        from sklearn.utils.class_weight import compute_sample_weight

        out["model__sample_weight"] = compute_sample_weight("balanced", y_fit)
    return out
