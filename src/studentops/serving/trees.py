"""Tree ensembles as flat node arrays, walked by one compiled (numba) loop.

Scoring one student through a booster's own predictor costs 20-150 us of fixed overhead per
call (argument checks, thread pools, DMatrix or Dataset set-up), and a numpy level-by-level
walk still pays ~1 us per numpy call per tree level. A compiled loop over flat arrays walks
hundreds of trees for one row in a few microseconds. Every library's trees become the same
arrays; what differs between them is kept exactly:

- the input precision (XGBoost, CatBoost and scikit-learn trees compare float32 features,
  LightGBM and HistGradientBoosting float64) and the comparison (XGBoost ``x < t``, the
  others ``x <= t``; CatBoost's ``x > border`` is the right branch of ``x <= border``);
- where a missing value goes (``missing_kind``: 0 = NaN takes the node's default side;
  1 = LightGBM "None": NaN is read as 0; 2 = LightGBM "Zero": NaN and 0 take the default side;
  3 = a LightGBM categorical split: listed codes left, NaN, negative and unseen codes right);
- the precision of the running sum (XGBoost sums leaves in float32, tree by tree).

Native categorical splits of XGBoost and HistGradientBoosting raise NotCompilable and the
member keeps its library's predictor. The caller proves every compiled forest against the
library on sample and edge rows before using it (see :mod:`studentops.serving.fast`).

The loops themselves are in :mod:`studentops.serving.kernels`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from studentops.serving.kernels import kernels


class NotCompilable(Exception):
    """The model has a part the compiler does not know; serve it through the model itself."""


NODE = np.dtype(
    [
        ("feature", np.int32),
        ("left", np.int32),  # -1 at a leaf
        ("right", np.int32),
        ("missing_left", np.int8),
        ("missing_kind", np.int8),
        ("threshold", np.float64),
    ],
    align=True,
)
"""One split, 24 bytes: the walk reads one cache line per node instead of one per field
(measured: 18 us instead of 28 us for 2,800 trees). Thresholds are float64 for every library:
a float32 threshold converts exactly, so comparing a float32 feature with it is unchanged."""


@dataclass(frozen=True)
class Forest:
    """Trees as flat node records; tree ``t`` adds its leaf value to output column ``column[t]``.

    ``value`` is one number per node (boosters) or a row per node (a random forest's class
    fractions, added to columns ``column[t] ... column[t] + width - 1``). ``base`` is where each
    output column's sum starts.
    """

    nodes: np.ndarray  # NODE records
    value: np.ndarray
    roots: np.ndarray
    column: np.ndarray
    base: np.ndarray
    rule: str  # "lt" (XGBoost), "le" (scikit-learn), "lightgbm"
    x_dtype: Any
    # LightGBM categorical splits: node k's categories going left are the bits of
    # cat_bits[cat_bounds[k]:cat_bounds[k + 1]]; the node's threshold holds k
    cat_bounds: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int32))
    cat_bits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint32))

    @property
    def n_outputs(self) -> int:
        return len(self.base)

    def splits(self) -> tuple[np.ndarray, np.ndarray]:
        """(feature, threshold) of every split node."""
        inner = (self.nodes["left"] >= 0) & (self.nodes["missing_kind"] < CATEGORICAL)
        return self.nodes["feature"][inner], self.nodes["threshold"][inner]

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The summed leaf values per row and output column (the booster's raw margin)."""
        X = np.ascontiguousarray(X, dtype=self.x_dtype)
        out = np.empty((len(X), len(self.base)), dtype=self.value.dtype)
        out[:] = self.base
        if self.rule == "lightgbm":
            kernels()["lightgbm"](
                X,
                self.nodes,
                self.cat_bounds,
                self.cat_bits,
                self.value,
                self.roots,
                self.column,
                out,
            )
            return out
        kernel = kernels()[self.rule + ("_vector" if self.value.ndim == 2 else "")]
        kernel(X, self.nodes, self.value, self.roots, self.column, out)
        return out

    @staticmethod
    def concat(forests: list[Forest]) -> Forest:
        """Several forests walked in one call, each with its own output columns (fold fusion)."""
        first = forests[0]
        if any(
            (f.rule, f.x_dtype, f.value.dtype, f.value.ndim)
            != (first.rule, first.x_dtype, first.value.dtype, first.value.ndim)
            for f in forests
        ):
            raise NotCompilable("forests of different kinds")
        node_offsets = np.cumsum([0] + [len(f.nodes) for f in forests])[:-1]
        column_offsets = np.cumsum([0] + [f.n_outputs for f in forests])[:-1]
        nodes = np.concatenate([f.nodes for f in forests])
        for key in ("left", "right"):
            links = np.concatenate(
                [f.nodes[key] + o for f, o in zip(forests, node_offsets, strict=True)]
            )
            nodes[key] = np.where(nodes[key] >= 0, links, -1)
        # categorical sets: renumber each forest's after the ones before it
        set_offsets = np.cumsum([0] + [len(f.cat_bounds) - 1 for f in forests])[:-1]
        word_offsets = np.cumsum([0] + [len(f.cat_bits) for f in forests])[:-1]
        categorical = nodes["missing_kind"] >= CATEGORICAL
        nodes["threshold"] = np.where(
            categorical,
            nodes["threshold"]
            + np.repeat(set_offsets, [len(f.nodes) for f in forests]).astype(np.float64),
            nodes["threshold"],
        )
        cat_bounds = np.concatenate(
            [[0]] + [f.cat_bounds[1:] + o for f, o in zip(forests, word_offsets, strict=True)]
        ).astype(np.int32)
        return Forest(
            nodes=nodes,
            value=np.concatenate([f.value for f in forests]),
            roots=np.concatenate(
                [f.roots + o for f, o in zip(forests, node_offsets, strict=True)]
            ).astype(np.int32),
            column=np.concatenate(
                [f.column + o for f, o in zip(forests, column_offsets, strict=True)]
            ).astype(np.int32),
            base=np.concatenate([f.base for f in forests]),
            rule=first.rule,
            x_dtype=first.x_dtype,
            cat_bounds=cat_bounds,
            cat_bits=np.concatenate([f.cat_bits for f in forests]).astype(np.uint32),
        )


def _assemble(
    trees: list[dict[str, Any]],
    columns: list[int],
    base: np.ndarray,
    rule: str,
    x_dtype: Any,
    value_dtype: Any,
) -> Forest:
    """One Forest from per-tree arrays (keys: feature, threshold, left, right, missing_left,
    missing_kind, value; links local to the tree, -1 at leaves)."""
    sizes = [len(t["left"]) for t in trees]
    offsets = np.cumsum([0, *sizes])[:-1]
    nodes = np.zeros(sum(sizes), dtype=NODE)
    for key in ("feature", "threshold", "missing_left", "missing_kind"):
        nodes[key] = np.concatenate([np.asarray(t[key], dtype=NODE[key]) for t in trees])
    for key in ("left", "right"):
        nodes[key] = np.concatenate(
            [
                np.where(np.asarray(t[key]) >= 0, np.asarray(t[key]) + o, -1)
                for t, o in zip(trees, offsets, strict=True)
            ]
        )
    return Forest(
        nodes=nodes,
        value=np.concatenate([np.asarray(t["value"], dtype=value_dtype) for t in trees]),
        roots=np.asarray(offsets, dtype=np.int32),
        column=np.asarray(columns, dtype=np.int32),
        base=np.asarray(base, dtype=value_dtype),
        rule=rule,
        x_dtype=x_dtype,
    )


# -- XGBoost ------------------------------------------------------------------------------------


IDENTITY_XGB = ("reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror")
IDENTITY_LGB = ("regression", "regression_l1", "huber", "fair", "quantile")


def xgboost_forest(est: Any) -> tuple[Forest, str]:
    """An XGBoost model's trees and its objective ('binary:logistic', 'multi:softprob', or a
    regression objective whose prediction is the margin itself).

    XGBoost compares float32 features with ``x < threshold`` and sums float32 leaves tree by
    tree from the base margin; at a leaf, ``split_conditions`` holds the leaf value.
    """
    missing = est.missing
    if not (missing is None or np.isnan(missing)):
        raise NotCompilable("xgboost with a missing value other than NaN")
    booster = est.get_booster()
    learner = json.loads(booster.save_raw("json"))["learner"]
    objective = learner["objective"]["name"]
    if objective not in ("binary:logistic", "multi:softprob", "multi:softmax", *IDENTITY_XGB):
        raise NotCompilable(f"xgboost objective {objective!r}")
    model = learner["gradient_booster"]
    if model.get("name") != "gbtree":
        raise NotCompilable(f"xgboost booster {model.get('name')}")
    trees = model["model"]["trees"]
    info = list(model["model"]["tree_info"])
    rounds = int(est._get_iteration_range(None)[1])
    indptr = model["model"].get("iteration_indptr")
    if rounds > 0 and indptr:
        trees, info = trees[: indptr[rounds]], info[: indptr[rounds]]
    params = learner["learner_model_param"]
    base_scores = np.array(
        [np.float32(v) for v in str(params["base_score"]).strip("[]").split(",")],
        dtype=np.float32,
    )
    one = np.float32(1.0)
    if objective == "binary:logistic":
        base = np.array([-np.log(one / base_scores[0] - one)], dtype=np.float32)
    elif objective in IDENTITY_XGB:  # the base score is the margin itself
        base = base_scores[:1].astype(np.float32)
    else:
        n_class = int(params["num_class"])
        base = (
            base_scores if len(base_scores) == n_class else np.full(n_class, base_scores[0])
        ).astype(np.float32)
    arrays = []
    for tree in trees:
        if any(tree["split_type"]):
            raise NotCompilable("xgboost categorical splits")
        lc = np.asarray(tree["left_children"], dtype=np.int64)
        arrays.append(
            {
                "feature": np.where(lc < 0, 0, tree["split_indices"]),
                # float32 first: the JSON text is the float32's shortest spelling, and read
                # straight into float64 it can land on the other side of a feature value
                "threshold": np.asarray(tree["split_conditions"], dtype=np.float32),
                "left": lc,
                "right": tree["right_children"],
                "missing_left": tree["default_left"],
                "missing_kind": np.zeros(len(lc)),
                "value": tree["split_conditions"],
            }
        )
    forest = _assemble(arrays, info, base, "lt", np.float32, np.float32)
    return forest, objective


# -- LightGBM -----------------------------------------------------------------------------------

_LGB_MISSING = {"None": 1, "Zero": 2, "NaN": 0}
CATEGORICAL = 3  # LightGBM categorical split: listed categories left; NaN, negative, others right


def lightgbm_forest(est: Any) -> tuple[Forest, str]:
    """A LightGBM model's trees and its objective ('binary', 'multiclass' or a regression
    objective whose prediction is the raw score).

    LightGBM compares float64 features with ``x <= threshold``; its missing-value rule depends
    on the split's missing type (see the module docstring). Leaves are summed in float64.
    """
    booster = est.booster_
    dump = booster.dump_model()
    objective = str(dump.get("objective", "")).split()[0]
    if objective not in ("binary", "multiclass", *IDENTITY_LGB):
        raise NotCompilable(f"lightgbm objective {objective!r}")
    if " sigmoid:" in str(dump.get("objective")) and "sigmoid:1" not in str(dump["objective"]):
        raise NotCompilable("lightgbm sigmoid scale other than 1")
    per_iteration = int(dump["num_tree_per_iteration"])
    best = int(getattr(est, "best_iteration_", 0) or 0)
    infos = dump["tree_info"]
    if best > 0:
        infos = infos[: best * per_iteration]
    arrays = []
    cat_sets: list[list[int]] = []
    for info in infos:
        nodes: list[dict[str, Any]] = []
        _flatten_lightgbm(info["tree_structure"], nodes, cat_sets)
        arrays.append({key: [n[key] for n in nodes] for key in nodes[0]})
    columns = [i % per_iteration for i in range(len(infos))]
    base = np.zeros(per_iteration)
    forest = _assemble(arrays, columns, base, "lightgbm", np.float64, np.float64)
    if cat_sets:
        words = [np.zeros(max(cats) // 32 + 1, dtype=np.uint32) for cats in cat_sets]
        for bits, cats in zip(words, cat_sets, strict=True):
            for cat in cats:
                bits[cat // 32] |= np.uint32(1 << (cat % 32))
        bounds = np.cumsum([0] + [len(w) for w in words]).astype(np.int32)
        forest = replace(forest, cat_bounds=bounds, cat_bits=np.concatenate(words))
    return forest, objective


def _flatten_lightgbm(
    node: dict[str, Any], out: list[dict[str, Any]], cat_sets: list[list[int]]
) -> int:
    """Append ``node`` and its subtree depth-first; returns its index in ``out``. A categorical
    split's categories (going left) are appended to ``cat_sets``, its threshold is their index.
    """
    index = len(out)
    if "leaf_value" in node:
        out.append(
            {
                "feature": 0,
                "threshold": 0.0,
                "left": -1,
                "right": -1,
                "missing_left": False,
                "missing_kind": 0,
                "value": float(node["leaf_value"]),
            }
        )
        return index
    decision = node.get("decision_type")
    entry = {
        "feature": int(node["split_feature"]),
        "threshold": 0.0,
        "left": -1,
        "right": -1,
        "missing_left": bool(node["default_left"]),
        "missing_kind": _LGB_MISSING[node.get("missing_type", "None")],
        "value": 0.0,
    }
    if decision == "==":
        cats = [int(c) for c in str(node["threshold"]).split("||") if c != ""]
        if not cats or min(cats) < 0:
            raise NotCompilable("lightgbm categorical split without categories")
        entry["threshold"] = float(len(cat_sets))
        entry["missing_kind"] = CATEGORICAL  # NaN goes right whatever the missing type
        cat_sets.append(cats)
    elif decision == "<=":
        entry["threshold"] = float(node["threshold"])
    else:
        raise NotCompilable(f"lightgbm decision {decision!r}")
    out.append(entry)
    entry["left"] = _flatten_lightgbm(node["left_child"], out, cat_sets)
    entry["right"] = _flatten_lightgbm(node["right_child"], out, cat_sets)
    return index


# -- scikit-learn -------------------------------------------------------------------------------


def sklearn_forest(est: Any) -> Forest:
    """A RandomForest/ExtraTrees classifier: the average of its trees' leaf class fractions.

    scikit-learn compares float32 features with ``x <= threshold`` (a float64 threshold) and
    sends NaN where ``missing_go_to_left`` says. The fractions are normalised per leaf as
    ``DecisionTreeClassifier.predict_proba`` does; the caller divides by the number of trees.
    """
    if getattr(est, "n_outputs_", 1) != 1:
        raise NotCompilable("multi-output forest")
    if not hasattr(est, "n_classes_"):  # a regressor: each leaf holds the mean target
        return _sklearn_regression_forest(est)
    n_classes = int(est.n_classes_)

    def fractions(values: np.ndarray) -> np.ndarray:
        leaf = values[:, 0, :n_classes]
        total = leaf.sum(axis=1, keepdims=True)
        total[total == 0] = 1.0
        return leaf / total

    arrays = [_sklearn_tree(tree, fractions) for tree in est.estimators_]
    return _assemble(arrays, [0] * len(arrays), np.zeros(n_classes), "le", np.float32, np.float64)


def _sklearn_regression_forest(est: Any) -> Forest:
    arrays = [_sklearn_tree(tree, lambda values: values[:, 0, 0]) for tree in est.estimators_]
    return _assemble(arrays, [0] * len(arrays), np.zeros(1), "le", np.float32, np.float64)


def _sklearn_tree(tree: Any, leaf_value: Any) -> dict[str, Any]:
    """One fitted scikit-learn tree's arrays; ``leaf_value`` maps its (nodes, 1, k) values."""
    state = tree.tree_.__getstate__()
    nodes = state["nodes"]
    left = np.asarray(nodes["left_child"], dtype=np.int64)
    return {
        "feature": np.where(left < 0, 0, nodes["feature"]),
        "threshold": nodes["threshold"],
        "left": left,
        "right": nodes["right_child"],
        "missing_left": nodes["missing_go_to_left"],
        "missing_kind": np.zeros(len(left)),
        "value": leaf_value(np.asarray(state["values"], dtype=np.float64)),
    }


def hist_gb_forest(est: Any) -> Forest:
    """A HistGradientBoosting model's raw score: baseline plus its trees' leaf values."""
    arrays = []
    columns = []
    for iteration in est._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise NotCompilable("hist gradient boosting categorical splits")
            leaf = nodes["is_leaf"].astype(bool)
            arrays.append(
                {
                    "feature": np.where(leaf, 0, nodes["feature_idx"]),
                    "threshold": nodes["num_threshold"],
                    # links are unsigned in scikit-learn: widen before marking leaves -1
                    "left": np.where(leaf, -1, nodes["left"].astype(np.int64)),
                    "right": np.where(leaf, -1, nodes["right"].astype(np.int64)),
                    "missing_left": nodes["missing_go_to_left"],
                    "missing_kind": np.zeros(len(leaf)),
                    "value": nodes["value"],
                }
            )
            columns.append(k)
    base = np.asarray(est._baseline_prediction, dtype=np.float64).ravel()
    return _assemble(arrays, columns, base, "le", np.float64, np.float64)


# -- CatBoost -----------------------------------------------------------------------------------

CATBOOST_LINKS = {"Logloss": "logistic", "MultiClass": "softmax", "RMSE": "identity"}


def catboost_forest(est: Any) -> tuple[Forest, str]:
    """A CatBoost model's oblivious trees, each expanded into a complete binary tree, and its
    link ('logistic', 'softmax' or 'identity').

    An oblivious tree of depth d tests one split per level; a student's leaf is the number
    whose bit L says whether split L was passed (``x > border``, float32 features against
    float32 borders). Expanded breadth-first, the leaf reached by path bits b_0..b_{d-1}
    (root first) holds the value of leaf sum(b_L << L). CatBoost's ``scale`` multiplies the
    leaf values, its ``bias`` is the base. NaN follows the feature's ``nan_value_treatment``.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/model.json"
        est.save_model(path, format="json")
        with open(path, encoding="utf-8") as handle:
            model = json.load(handle)
    link = CATBOOST_LINKS.get(str(est.get_all_params().get("loss_function")))
    if link is None:
        raise NotCompilable("catboost loss function")
    info = model["features_info"]
    if info.get("categorical_features") or info.get("text_features") or info.get("ctrs"):
        raise NotCompilable("catboost categorical or text features")
    nan_right = {
        int(f["float_feature_index"] if "float_feature_index" in f else f["feature_index"]): (
            f.get("nan_value_treatment") == "AsTrue"
        )
        for f in info.get("float_features", [])
    }
    scale, bias = model["scale_and_bias"]
    base = np.atleast_1d(np.asarray(bias, dtype=np.float64))
    dims = len(base)
    arrays = []
    for tree in model["oblivious_trees"]:
        splits = tree["splits"]
        if any(split.get("split_type") != "FloatFeature" for split in splits):
            raise NotCompilable("catboost split on a non-float feature")
        depth = len(splits)
        leaves = np.asarray(tree["leaf_values"], dtype=np.float64).reshape(2**depth, dims)
        inner = 2**depth - 1
        level = np.floor(np.log2(np.arange(inner) + 1)).astype(np.int64)
        features = np.array([int(split["float_feature_index"]) for split in splits], dtype=int)
        borders = np.array([float(split["border"]) for split in splits])
        j = np.arange(2**depth)
        catboost_leaf = sum((((j >> (depth - 1 - b)) & 1) << b) for b in range(depth))
        value = np.zeros((inner + 2**depth, dims))
        value[inner:] = leaves[catboost_leaf] * float(scale)
        children = np.arange(inner)
        arrays.append(
            {
                "feature": np.r_[features[level], np.zeros(2**depth, dtype=int)],
                "threshold": np.r_[borders[level], np.zeros(2**depth)],
                "left": np.r_[2 * children + 1, np.full(2**depth, -1)],
                "right": np.r_[2 * children + 2, np.full(2**depth, -1)],
                "missing_left": np.r_[
                    [not nan_right.get(int(f), False) for f in features[level]],
                    np.zeros(2**depth, dtype=bool),
                ],
                "missing_kind": np.zeros(inner + 2**depth),
                "value": value[:, 0] if dims == 1 else value,
            }
        )
    forest = _assemble(arrays, [0] * len(arrays), base, "le", np.float32, np.float64)
    return forest, link
