"""Events sit below training: no module of ``studentops.events`` imports training (issue 11).

Lazy imports inside functions count too: a loop through a function body is still a loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

import studentops.events

EVENTS = Path(studentops.events.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_events_module_imports_training() -> None:
    modules = sorted(EVENTS.glob("*.py"))
    assert len(modules) > 5
    offenders = {
        path.name: sorted(n for n in _imports(path) if n.startswith("studentops.training"))
        for path in modules
    }
    assert {name: found for name, found in offenders.items() if found} == {}
