"""deploy/terraform parses (python-hcl2), every variable is declared and used, tfvars complete.

There is no terraform binary here: checkov checks the modules (`make lint-deploy`, in its own
virtual environment) and these tests check what a `terraform validate` would catch first.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from .conftest import DEPLOY

TF = DEPLOY / "terraform"
MODULES = sorted(TF.glob("*.tf"))
VARFILES = sorted(TF.glob("*.tfvars"))
REFERENCE = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_]*)")


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return dict(hcl2.load(handle))


def _variables() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in MODULES:
        for block in _load(path).get("variable", []):
            for name, body in block.items():
                assert name.strip('"') not in out, f"{name} declared twice"
                out[name.strip('"')] = body
    return out


def _references() -> set[str]:
    """var.X used outside the declarations (a variable's own validation does not count)."""
    used: set[str] = set()
    for path in MODULES:
        text = path.read_text(encoding="utf-8")
        if path.name == "variables.tf":
            text = ""
        used |= set(REFERENCE.findall(text))
    return used


def test_every_file_parses() -> None:
    assert {p.name for p in VARFILES} == {"staging.tfvars", "production.tfvars"}
    for path in [*MODULES, *VARFILES]:
        assert _load(path), path.name


def test_every_variable_is_declared_and_used() -> None:
    declared, used = set(_variables()), _references()
    assert sorted(used - declared) == [], "used but not declared"
    assert sorted(declared - used) == [], "declared but never used"


def test_every_variable_is_described_and_typed() -> None:
    for name, body in _variables().items():
        assert body.get("description") and body.get("type"), name


@pytest.mark.parametrize("varfile", VARFILES, ids=lambda p: p.name)
def test_tfvars_set_every_required_variable_and_no_secret(varfile: Path) -> None:
    variables = _variables()
    values = {k: v for k, v in _load(varfile).items() if not k.startswith("__")}
    assert sorted(set(values) - set(variables)) == [], "not declared"
    secrets = {n for n, b in variables.items() if b.get("sensitive")}
    assert secrets == {"prediction_log_url", "pseudonym_key"}
    assert not secrets & set(values), "secrets come from TF_VAR_*, never from a file"
    required = {n for n, b in variables.items() if "default" not in b} - secrets
    assert sorted(required - set(values)) == [], "required but not set"
    assert values["environment"].strip('"') == varfile.stem


def test_lambda_reports_partial_batch_failures_and_runs_the_image_role() -> None:
    resources: dict[str, Any] = {}
    for block in _load(TF / "lambda.tf")["resource"]:
        resources.update({k.strip('"'): v for k, v in block.items()})
    mapping = resources["aws_lambda_event_source_mapping"]['"events"']
    assert _plain(mapping["function_response_types"]) == ["ReportBatchItemFailures"]
    scorer = resources["aws_lambda_function"]['"scorer"']
    assert _plain(scorer["package_type"]) == "Image"
    assert _plain(scorer["image_config"][0]["command"]) == ["lambda"]


def _plain(value: Any) -> Any:
    """python-hcl2 keeps string literals' quotes; drop them."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.strip('"') if isinstance(value, str) else value


def test_no_iam_statement_grants_every_action() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in MODULES)
    actions = re.findall(r"actions\s*=\s*\[([^\]]*)\]", text)
    assert actions
    offending = [a for a in actions if re.search(r'"[a-z0-9]+:\*"|"\*"', a)]
    assert offending == ['"kms:*"'], offending  # the key policy's administrator statement only
