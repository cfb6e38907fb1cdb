"""Each tree library's fitted model read into a :class:`~studentops.serving.compiled.trees.Forest`.

XGBoost and LightGBM from their JSON dumps, CatBoost's oblivious trees expanded from its JSON
export, scikit-learn forests and HistGradientBoosting from their node arrays. Each reader keeps
the library's split rule, missing-value rule and precision (see :mod:`.trees`) and says which
link turns the sums into predictions.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np

from studentops.serving.compiled.protocol import NotCompilable
from studentops.serving.compiled.trees import CATEGORICAL, Forest, assemble

# -- XGBoost ------------------------------------------------------------------------------------


IDENTITY_XGB = ("reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror")
IDENTITY_LGB = ("regression", "regression_l1", "huber", "fair", "quantile")


def xgboost_forest(est: Any) -> tuple[Forest, str]:
    """An XGBoost model's trees and its objective ('binary:logistic', 'multi:softprob', or a
    regression objective whose prediction is the margin itself).

    XGBoost compares float32 features with ``x < threshold`` and sums float32 leaves tree by
    tree from the base margin; at a leaf, ``split_conditions`` holds the leaf value.

    Raises:
        NotCompilable: a missing value other than NaN, another objective or booster (gblinear,
            dart), or categorical splits.
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
    forest = assemble(arrays, info, base, "lt", np.float32, np.float32)
    return forest, objective


# -- LightGBM -----------------------------------------------------------------------------------

_LGB_MISSING = {"None": 1, "Zero": 2, "NaN": 0}


def lightgbm_forest(est: Any) -> tuple[Forest, str]:
    """A LightGBM model's trees and its objective ('binary', 'multiclass' or a regression
    objective whose prediction is the raw score).

    LightGBM compares float64 features with ``x <= threshold``; its missing-value rule depends
    on the split's missing type (see the module docstring). Leaves are summed in float64.

    Raises:
        NotCompilable: another objective, a sigmoid scale other than 1, or a decision type
            other than ``<=`` and categorical ``==``.
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
    forest = assemble(arrays, columns, base, "lightgbm", np.float64, np.float64)
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
    A regressor's forest sums its leaves' mean targets the same way.

    Raises:
        NotCompilable: a multi-output forest.
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
    return assemble(arrays, [0] * len(arrays), np.zeros(n_classes), "le", np.float32, np.float64)


def _sklearn_regression_forest(est: Any) -> Forest:
    arrays = [_sklearn_tree(tree, lambda values: values[:, 0, 0]) for tree in est.estimators_]
    return assemble(arrays, [0] * len(arrays), np.zeros(1), "le", np.float32, np.float64)


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
    """A HistGradientBoosting model's raw score: baseline plus its trees' leaf values.

    One output column per class (``n_trees_per_iteration_``); float64 features, ``x <= t``.

    Raises:
        NotCompilable: native categorical splits.
    """
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
    return assemble(arrays, columns, base, "le", np.float64, np.float64)


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

    Raises:
        NotCompilable: a loss other than Logloss, MultiClass or RMSE, or categorical, text or
            CTR features.
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
    forest = assemble(arrays, [0] * len(arrays), base, "le", np.float32, np.float64)
    return forest, link
