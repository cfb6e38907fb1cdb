"""The import graph of ``src/studentops``: no loops between modules, each part above what it uses.

The graph is grimp's (the library behind import-linter), built from every import statement in
the source: at module level, inside functions (lazy imports) and under ``TYPE_CHECKING`` alike,
since each is a place where one module needs another. A loop (module A imports B, which imports
A back, directly or through others) means neither can be read, tested or moved alone.

Layers, top to bottom. A module may import modules of its own layer and of any layer below it,
never one above. Rules are module prefixes; the longest matching prefix decides, so a part can
keep a low-level store below its own jobs (``monitoring.predlog`` is a store, ``monitoring``'s
checks and alerts are jobs).

1. entry points: ``__main__``, ``cli``, every ``*.commands`` (Typer commands), demo steps
   (``demo``, ``demo_alerts``, ``*.demo_step``), ``flows`` (Prefect), ``ui`` (Streamlit),
   the HTTP app (``serving.app``, ``serving.routes``, ``serving.deps``) and the Lambda handler
   (``streaming.lambda_handler``): they parse, wire and call; nothing below imports them.
2. jobs and services: ``monitoring`` (checks, drift, performance, alerts, retraining),
   ``privacy``, ``streaming``, ``deploy``.
3. serving core: ``serving`` (predictor, batch, service, model holder, bands, inputs) and the
   compiled scorer ``serving.compiled``, which imports no other studentops module at all (it
   reads a model through the protocol it defines).
4. training: ``training`` (search, train, evaluate, explain, fairness, the stage function).
5. stores: ``registry`` (MLflow tracking, models, cards) and the monitoring stores it shares
   with serving and training (``monitoring.predlog``, ``monitoring.pseudonym``,
   ``monitoring.reference``).
6. features: ``features`` (sklearn transformers) and ``events`` (event logs -> weekly features;
   issue 11 item 3: event features below training, the early-warning study beside evaluation).
7. ``datasets``: profiles, loading, validation, synthetic cohorts; imports no other part.
8. foundation: the package root, ``config``, ``errors``, ``output`` (how commands print) and
   other small top-level helpers, each listed by name: a new top-level module needs a layer.

Parts (the prefixes below) of one layer may import each other, but only one way: no loop
between parts either.

``KNOWN_CYCLES`` and ``KNOWN_LAYER_BREAKS`` are empty since issue 11 and stay so; an entry that
no longer occurs fails ``test_known_breaks_still_occur``, so the lists could only shrink.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

grimp = pytest.importorskip("grimp", reason="grimp is in the dev extra (pip install -e .[dev])")

ROOT = "studentops"

#: (prefix, layer); the longest prefix matching a module decides its layer (1 = top)
LAYER_RULES: tuple[tuple[str, int], ...] = (
    ("studentops.__main__", 1),
    ("studentops.cli", 1),
    ("studentops.demo", 1),
    ("studentops.demo_alerts", 1),
    ("studentops.flows", 1),
    ("studentops.ui", 1),
    ("studentops.serving.app", 1),
    ("studentops.serving.routes", 1),
    ("studentops.serving.deps", 1),
    ("studentops.streaming.lambda_handler", 1),
    ("studentops.monitoring", 2),
    ("studentops.privacy", 2),
    ("studentops.streaming", 2),
    ("studentops.deploy", 2),
    ("studentops.serving", 3),
    ("studentops.training", 4),
    ("studentops.registry", 5),
    ("studentops.monitoring.predlog", 5),
    ("studentops.monitoring.pseudonym", 5),
    ("studentops.monitoring.reference", 5),
    ("studentops.features", 6),
    ("studentops.events", 6),
    ("studentops.datasets", 7),
    ("studentops", 8),
    ("studentops.config", 8),
    ("studentops.errors", 8),
    ("studentops.output", 8),
    # top-level modules of issue-11-structure (MLflow tracking out of registry/; helpers)
    ("studentops.tracking", 5),
    ("studentops.databases", 8),
    ("studentops.json_values", 8),
)
LAYER_NAMES = {
    1: "entry points",
    2: "jobs and services",
    3: "serving core",
    4: "training",
    5: "stores",
    6: "features",
    7: "datasets",
    8: "foundation",
}

# Issue 11 emptied both lists (the last entries went at its merge: Formats in datasets/formats.py,
# ScoredBatch beside the Scorer protocol, the card's TrainResult a protocol, the week scorer in
# serving/weekly.py). They stay empty: fix a new loop or layer break instead of listing it.
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()
KNOWN_LAYER_BREAKS: frozenset[tuple[str, str]] = frozenset()


def part_of(module: str) -> str:
    """The rule of LAYER_RULES that places ``module``: its longest matching prefix.

    Raises:
        LookupError: no rule matches (a new top-level module: give it a layer).
    """
    best: str | None = None
    for prefix, _ in LAYER_RULES:
        # the root rule is the package itself: a new top-level module must be given a layer
        matches = module == prefix or (prefix != ROOT and module.startswith(prefix + "."))
        if matches and (best is None or len(prefix) > len(best)):
            best = prefix
    if best is None:
        raise LookupError(f"{module}: no layer; add it to LAYER_RULES")
    return best


def layer_of(module: str) -> int:
    """The layer of ``module`` (1 = top): the one of its longest matching prefix in LAYER_RULES.

    ``*.commands`` and ``*.demo_step`` modules are entry points wherever they live.

    Raises:
        LookupError: no rule matches (a new top-level module: give it a layer).
    """
    if module.rsplit(".", 1)[-1] in ("commands", "demo_step"):
        return 1
    return dict(LAYER_RULES)[part_of(module)]


@cache
def import_graph() -> Any:
    """grimp's graph of the package: every import statement, TYPE_CHECKING ones included."""
    return grimp.build_graph(ROOT, cache_dir=None)


def direct_imports() -> dict[str, set[str]]:
    """Module -> the package's modules it imports directly (anywhere in its source)."""
    graph = import_graph()
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def strongly_connected(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """The loops of a directed graph: its strongly connected components with more than one
    node (or a node importing itself), by Tarjan's algorithm (Tarjan, "Depth-first search and
    linear graph algorithms", SIAM J. Comput. 1(2), 1972)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(edges.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(frozenset(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(edges) + 100))
    try:
        for node in sorted(edges):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


def describe_cycle(component: frozenset[str]) -> str:
    """One line per import inside a loop: importer -> imported (line numbers)."""
    graph = import_graph()
    lines = []
    for importer in sorted(component):
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & component):
            details = graph.get_import_details(importer=importer, imported=imported)
            where = ", ".join(str(d["line_number"]) for d in details)
            lines.append(f"  {importer} -> {imported} (line {where})")
    return "\n".join(lines)


def layer_breaks() -> set[tuple[str, str]]:
    """Every direct import of a module in a higher layer than the importer's."""
    return {
        (importer, imported)
        for importer, targets in direct_imports().items()
        for imported in targets
        if layer_of(imported) < layer_of(importer)
    }


def part_imports() -> dict[str, set[str]]:
    """Part -> the other parts its modules import (entry points left out: nothing imports
    them, and a loop among them is a module loop; known layer breaks left out: they are
    listed once, in KNOWN_LAYER_BREAKS)."""
    edges: dict[str, set[str]] = {}
    for importer, targets in direct_imports().items():
        if layer_of(importer) == 1:
            continue
        for imported in targets:
            known = (importer, imported) in KNOWN_LAYER_BREAKS
            if not known and part_of(imported) != part_of(importer):
                edges.setdefault(part_of(importer), set()).add(part_of(imported))
    return edges


def test_the_cycle_finder_finds_loops() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert set(strongly_connected(edges)) == {frozenset("abc"), frozenset("e")}


def test_grimp_sees_lazy_and_type_checking_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules below rely on it: an import inside a function or under TYPE_CHECKING is an
    edge of the graph, and a loop made of them is found."""
    package = tmp_path / "loopdemo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from loopdemo import b\n    return b\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from loopdemo import a\n"
    )
    (package / "c.py").write_text("import loopdemo.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("loopdemo", cache_dir=None)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert edges["loopdemo.a"] == {"loopdemo.b"}
    assert edges["loopdemo.b"] == {"loopdemo.a"}
    assert strongly_connected(edges) == [frozenset({"loopdemo.a", "loopdemo.b"})]


def test_no_import_loops() -> None:
    loops = [c for c in strongly_connected(direct_imports()) if c not in KNOWN_CYCLES]
    report = "\n".join(f"loop of {len(c)} modules:\n{describe_cycle(c)}" for c in loops)
    assert not loops, f"import loops in src/studentops:\n{report}"


def test_no_loops_between_parts() -> None:
    """Two parts of one layer may import each other's modules only one way."""
    loops = [sorted(c) for c in strongly_connected(part_imports())]
    assert not loops, f"parts that import each other: {loops}"


def test_every_module_has_a_layer() -> None:
    for module in import_graph().modules:
        layer_of(module)  # raises LookupError naming the module


def test_no_module_imports_a_higher_layer() -> None:
    breaks = sorted(layer_breaks() - KNOWN_LAYER_BREAKS)
    report = "\n".join(
        f"  {a} ({LAYER_NAMES[layer_of(a)]}) imports {b} ({LAYER_NAMES[layer_of(b)]})"
        for a, b in breaks
    )
    assert not breaks, f"imports against the layers (see this module's docstring):\n{report}"


def test_core_never_imports_entry_points() -> None:
    """The rule the layers exist for, said on its own: no CLI, HTTP app, flow or page below."""
    offenders = sorted(
        (a, b)
        for a, b in layer_breaks() - KNOWN_LAYER_BREAKS
        if layer_of(b) == 1 and layer_of(a) > 1
    )
    assert not offenders, offenders


def test_known_breaks_still_occur() -> None:
    """An allow-list entry that was fixed must leave the list (the lists only shrink)."""
    cycles = set(strongly_connected(direct_imports()))
    stale = [sorted(c) for c in KNOWN_CYCLES if c not in cycles]
    stale += [list(pair) for pair in KNOWN_LAYER_BREAKS - layer_breaks()]
    assert not stale, f"fixed: remove from KNOWN_CYCLES / KNOWN_LAYER_BREAKS: {stale}"


def test_the_compiled_scorer_imports_nothing_else_of_studentops() -> None:
    """``serving.compiled`` reads a model through its own protocol only (no training types)."""
    package = "studentops.serving.compiled"
    outside = sorted(
        (importer, imported)
        for importer, targets in direct_imports().items()
        if importer == package or importer.startswith(package + ".")
        for imported in targets
        if not (imported == package or imported.startswith(package + "."))
    )
    assert not outside, outside
