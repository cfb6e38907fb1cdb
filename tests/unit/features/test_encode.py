"""ProfileEncoder: estimator contract, DataFrame/records equality, unknown and missing values."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from studentops.features.encode import CodesOneHot, ProfileEncoder, codes_to_onehot

from ..training.synthetic import make_frame, make_profile


@pytest.fixture
def profile():
    return make_profile("multiclass")


@pytest.fixture
def frame(profile):
    return make_frame(profile, n=80)


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict(orient="records")


def test_init_stores_params_only_and_clones(profile) -> None:
    enc = ProfileEncoder(profile, one_hot=True)
    assert enc.get_params() == {"profile": profile, "one_hot": True}
    assert not hasattr(enc, "feature_names_out_")
    twin = clone(enc)
    assert twin is not enc and twin.one_hot is True


def test_layout_numbers_first_then_codes(profile, frame) -> None:
    enc = ProfileEncoder(profile).fit(frame)
    assert enc.feature_names_out == ["study", "absences", "support", "track"]
    X = enc.transform(frame)
    assert X.shape == (len(frame), 4)
    np.testing.assert_array_equal(X[:, 0], frame["study"].to_numpy(float))
    # codes are positions in the profile's category list
    expected = frame["track"].map({"arts": 0, "science": 1, "trade": 2}).to_numpy(float)
    np.testing.assert_array_equal(X[:, 3], expected)
    assert enc.categorical_indices_ == [2, 3]


def test_one_hot_names_and_blocks(profile, frame) -> None:
    enc = ProfileEncoder(profile, one_hot=True).fit(frame)
    names = enc.feature_names_out
    assert names[:2] == ["study", "absences"]
    assert "track=science" in names and len(names) == 2 + 5 + 3
    X = enc.transform(frame)
    assert np.all(X[:, 2:].sum(axis=1) == 2)  # one hot per categorical column


@pytest.mark.parametrize("one_hot", [False, True])
def test_records_equal_dataframe(profile, frame, one_hot) -> None:
    enc = ProfileEncoder(profile, one_hot=one_hot).fit(frame)
    messy = frame.copy()
    messy.loc[messy.index[0], "track"] = "astronomy"  # unknown category
    messy.loc[messy.index[1], "study"] = np.nan  # missing number
    messy.loc[messy.index[2], "support"] = None  # missing category
    messy["extra"] = "ignored"
    np.testing.assert_array_equal(enc.transform(messy), enc.encode_records(_records(messy)))


def test_records_accept_json_spellings(profile, frame) -> None:
    """1, 1.0 and "1" are the same category; numbers may come as text; keys may be absent."""
    enc = ProfileEncoder(profile).fit(frame)
    a = enc.encode_records([{"study": 10.5, "absences": 3, "support": 2, "track": "arts"}])
    b = enc.encode_records(
        [{"study": "10.5", "absences": "3", "support": "2.0", "track": " arts "}]
    )
    np.testing.assert_array_equal(a, b)
    missing = enc.encode_records([{"study": 1.0}])
    assert np.isnan(missing[0, 1:]).all()


def test_unknown_category_is_missing_or_zero(profile, frame) -> None:
    ordinal = ProfileEncoder(profile).fit(frame)
    onehot = ProfileEncoder(profile, one_hot=True).fit(frame)
    rec = [{"study": 1, "absences": 0, "support": 9, "track": "astronomy"}]
    assert np.isnan(ordinal.encode_records(rec)[0, 2:]).all()
    assert onehot.encode_records(rec)[0, 2:].sum() == 0


def test_absent_column_counts_as_missing(profile, frame) -> None:
    enc = ProfileEncoder(profile).fit(frame)
    X = enc.transform(frame.drop(columns=["study"]))
    assert np.isnan(X[:, 0]).all()


def test_pickles(profile, frame) -> None:
    enc = ProfileEncoder(profile, one_hot=True).fit(frame)
    again = pickle.loads(pickle.dumps(enc))
    np.testing.assert_array_equal(
        enc.encode_records(_records(frame)), again.encode_records(_records(frame))
    )


def test_codes_onehot_matches_encoder(profile, frame) -> None:
    ordinal = ProfileEncoder(profile).fit(frame)
    onehot = ProfileEncoder(profile, one_hot=True).fit(frame)
    step = ordinal.onehot_step().fit(ordinal.transform(frame))
    np.testing.assert_array_equal(step.transform(ordinal.transform(frame)), onehot.transform(frame))
    assert list(step.source_index_) == [0, 1, 2, 2, 2, 2, 2, 3, 3, 3]


def test_codes_to_onehot_ignores_nan_and_out_of_range() -> None:
    out = codes_to_onehot(np.array([[0.0], [np.nan], [5.0]]), [2])
    np.testing.assert_array_equal(out, [[1, 0], [0, 0], [0, 0]])
    assert CodesOneHot().fit(np.zeros((2, 3))).transform(np.ones((2, 3))).shape == (2, 3)


def test_records_path_is_fast(profile, frame) -> None:
    """The serving fast path: well under a millisecond per row (target: tens of µs)."""
    enc = ProfileEncoder(profile).fit(frame)
    records = _records(frame) * 25
    enc.encode_records(records[:10])
    start = time.perf_counter()
    enc.encode_records(records)
    per_row = (time.perf_counter() - start) / len(records)
    assert per_row < 1e-3


def test_a_column_empty_in_every_fit_row_is_left_out(profile, frame) -> None:
    empty = frame.assign(absences=np.nan, track=None)
    enc = ProfileEncoder(profile).fit(empty)
    assert enc.empty_columns_ == ["absences", "track"]
    assert enc.feature_names_out == ["study", "support"]
    assert enc.categorical_indices_ == [1]
    X = enc.transform(empty)
    # the left-out columns are ignored whether they arrive with values, empty, or not at all
    np.testing.assert_array_equal(enc.transform(frame), X)
    np.testing.assert_array_equal(enc.transform(frame.drop(columns=["absences", "track"])), X)
    np.testing.assert_array_equal(enc.encode_records(_records(frame)), X)
    assert ProfileEncoder(profile).fit().empty_columns_ == []  # no rows: the profile's layout


def test_every_feature_empty_is_a_data_error(profile, frame) -> None:
    from studentops.errors import DataError

    with pytest.raises(DataError, match="no usable feature"):
        ProfileEncoder(profile).fit(frame.iloc[:0])
