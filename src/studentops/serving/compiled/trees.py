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
library on sample and edge rows before using it (see :mod:`studentops.serving.compiled.scorer`).

Each library's trees are read into this form by :mod:`.tree_readers`; the loops themselves are
in :mod:`.kernels`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studentops.serving.compiled.kernels import kernels
from studentops.serving.compiled.protocol import NotCompilable

CATEGORICAL = 3  # LightGBM categorical split: listed categories left; NaN, negative, others right

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
        """The number of output columns the trees add to."""
        return len(self.base)

    def splits(self) -> tuple[np.ndarray, np.ndarray]:
        """(feature, threshold) of every numeric split node: two arrays of shape (n_splits,)."""
        inner = (self.nodes["left"] >= 0) & (self.nodes["missing_kind"] < CATEGORICAL)
        return self.nodes["feature"][inner], self.nodes["threshold"][inner]

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The summed leaf values per row and output column (the booster's raw margin).

        ``X`` is ``(n_rows, n_features)``, read at ``x_dtype``; the result is
        ``(n_rows, n_outputs)`` in the leaves' dtype (float32 for XGBoost, else float64).
        """
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
        """Several forests walked in one call, each with its own output columns (fold fusion).

        Raises:
            NotCompilable: the forests differ in split rule, input or leaf dtype, or leaf width.
        """
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


def assemble(
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
