"""compose.yaml against the Compose specification's JSON schema, and .env.example beside it.

The schema is the one check-jsonschema ships (vendored there from compose-spec/compose-spec,
schema/compose-spec.json); it is validated with jsonschema here. Docker does not run here.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from .conftest import DEPLOY, REPO

COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
SERVICES = {
    "postgres", "s3", "s3-bucket", "mlflow", "api", "redis", "stream-worker",
    "prefect-server", "prefect-worker", "dashboard", "prometheus", "grafana",
}  # fmt: skip
# ${NAME}, ${NAME:-default}, ${NAME:?error}; $$ escapes a dollar for the container's shell.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Z0-9_]+)(?:[:?-][^}]*)?\}")


def vendored_schema(name: str) -> dict[str, Any]:
    import json

    pytest.importorskip("check_jsonschema", reason="pip install check-jsonschema (dev extra)")
    files = resources.files("check_jsonschema.builtin_schemas.vendor")
    return dict(json.loads(files.joinpath(name).read_text(encoding="utf-8")))


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))


def test_compose_file_follows_the_compose_specification() -> None:
    schema = vendored_schema("compose-spec.json")
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(_compose()), key=lambda e: list(e.path))
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []


def test_the_schema_check_catches_a_mistake() -> None:
    broken = _compose()
    broken["services"]["api"]["ports"] = {"8000": 8000}  # a mapping where a list is required
    broken["services"]["api"]["restart_policy"] = "always"  # no such key
    validator = jsonschema.Draft202012Validator(vendored_schema("compose-spec.json"))
    assert len(list(validator.iter_errors(broken))) >= 2


def test_every_part_of_the_topology_is_there() -> None:
    services = _compose()["services"]
    assert set(services) == SERVICES
    roles = {name: s["command"][0] for name, s in services.items() if "build" in s}
    assert roles == {
        "mlflow": "tracking",
        "api": "api",
        "stream-worker": "stream",
        "prefect-server": "prefect-server",
        "prefect-worker": "flows",
        "dashboard": "dashboard",
    }
    built = [s["build"]["dockerfile"] for s in services.values() if "build" in s]
    assert set(built) == {"deploy/Dockerfile"}


def test_mounted_files_exist() -> None:
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source}"


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_env_example_lists_every_variable_and_no_secret() -> None:
    used = set(VARIABLE.findall(COMPOSE.read_text(encoding="utf-8")))
    example = _env_example()
    assert used == set(example)
    secrets = [k for k in example if re.search(r"PASSWORD|SECRET|PSEUDONYM_KEY|ACCESS_KEY", k)]
    assert secrets and all(example[k] == "" for k in secrets)
    assert "deploy/.env" in (REPO / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize("path", sorted((DEPLOY / "grafana" / "provisioning").rglob("*.yaml")))
def test_grafana_provisioning_is_yaml(path: Path) -> None:
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["apiVersion"] == 1
