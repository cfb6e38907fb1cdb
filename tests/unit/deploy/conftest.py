"""Static checks of deploy/ and .github/: paths and the binaries the checks run."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
VENV_BIN = Path(sys.executable).parent


def binary(name: str, hint: str) -> str:
    """A checker from the venv or the machine, or skip saying how to install it."""
    found = VENV_BIN / name
    if found.exists():
        return str(found)
    on_path = shutil.which(name)
    if on_path is None:
        pytest.skip(f"{name} not found ({hint})")
    return on_path
