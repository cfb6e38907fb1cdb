from __future__ import annotations

from pathlib import Path

import pytest

from studentops.config import load_settings
from studentops.errors import ConfigError


def test_defaults_put_state_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STUDENTOPS_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.home == Path(".studentops")
    assert s.mlflow_tracking_uri.startswith("sqlite:///")
    assert s.mlflow_tracking_uri.endswith(".studentops/mlflow.db")
    assert not (tmp_path / ".studentops").exists(), "loading settings must not create folders"


def test_yaml_then_env_then_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "studentops.yaml"
    cfg.write_text("risk_high: 0.7\npromote_margin: 0.01\nhome: /tmp/x\n")
    monkeypatch.setenv("STUDENTOPS_PROMOTE_MARGIN", "0.05")
    s = load_settings(cfg, home=tmp_path / "h")
    assert s.risk_high == 0.7
    assert s.promote_margin == 0.05
    assert s.home == tmp_path / "h"


def test_bad_settings_are_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "studentops.yaml"
    cfg.write_text("risk_high: lots\n")
    with pytest.raises(ConfigError, match="setting 'risk_high'"):
        load_settings(cfg)
    cfg.write_text("nope: 1\n")
    with pytest.raises(ConfigError, match="nope"):
        load_settings(cfg)
    cfg.write_text("[unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(cfg)
