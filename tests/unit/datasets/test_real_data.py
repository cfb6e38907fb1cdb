"""Every built-in profile validates its seed dataset with zero rejects."""

from __future__ import annotations

from pathlib import Path

import pytest

from studentops.config import load_settings
from studentops.datasets.profile import builtin_profile_names, load_profile
from studentops.datasets.validation import validate_file

SEEDED = [n for n in builtin_profile_names() if load_profile(n).source is not None]


@pytest.mark.realdata
@pytest.mark.parametrize("name", SEEDED)
def test_seed_dataset_has_zero_rejects(name: str, shared_data: Path) -> None:
    settings = load_settings(config_file="/nonexistent.yaml", data_dir=shared_data)
    profile, result = validate_file(name, None, settings=settings)
    assert result.total > 500
    assert result.rejected == 0, result.rejects.head().to_dict("records")
    y = profile.target_values(result.valid)
    assert y.notna().all()
    if profile.task != "regression":
        assert set(y.unique()) == set(profile.class_order())
