"""The house's shape, kept by a test: layers point one way, and heavy or CLI-only packages stay where they belong.

    cli  ->  reports / analytics / transfer / output / demo  ->  records  ->  db / migrations / sql / values  ->  errors

A module may import from its own layer or a lower one, never a higher one. Only cli/ imports typer; only
analytics/ imports numpy or scipy (and ALSO_ALLOWED's one module, numpy); only postgres.py imports psycopg.
Every import is checked, those inside functions too (they are how crm keeps start-up fast, and a forbidden
one there is just as wrong).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "crmcli"

LAYERS = {
    "errors": 0,
    "db": 1, "migrations": 1, "sql": 1, "values": 1, "postgres": 1, "postgres_schema": 1,
    "customers": 2, "refs": 2, "interactions": 2, "feedback": 2, "followups": 2, "history": 2, "duplicates": 2,
    "reports": 3, "analytics": 3, "transfer": 3, "output": 3, "demo": 3,
    "cli": 4, "__init__": 4, "__main__": 4,
}
ONLY_IN = {"typer": "cli", "click": "cli", "numpy": "analytics", "scipy": "analytics", "psycopg": "postgres"}
# The one module elsewhere that may import one of them, and why.
ALSO_ALLOWED = {
    ("crmcli.transfer.imports.directory", "numpy"):
        "the customer directory of an import past its memo's limit: sorted arrays, numpy loaded only then",
}


def top_part(module: str) -> str:
    """crmcli.transfer.imports.base -> 'transfer'; crmcli -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def is_submodule(name: str) -> bool:
    return (PACKAGE / f"{name}.py").exists() or (PACKAGE / name).is_dir()


def imported_modules(source: str) -> list[str]:
    """Every module an import statement names; `from crmcli import a, b` names crmcli.a and crmcli.b."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "crmcli":  # a submodule, or a name of the package itself (__version__)
                names += [f"crmcli.{alias.name}" if is_submodule(alias.name) else "crmcli" for alias in node.names]
            else:
                names.append(node.module)
    return names


def violations(module: str, source: str) -> list[str]:
    found = []
    own = top_part(module)
    for name in imported_modules(source):
        root = name.split(".")[0]
        if root in ONLY_IN and own != ONLY_IN[root] and (module, root) not in ALSO_ALLOWED:
            found.append(f"{module} imports {name}, which only {ONLY_IN[root]}/ may")
        if root == "crmcli":
            other = top_part(name)
            if other not in LAYERS:
                found.append(f"{module} imports {name}, which has no layer here (add it to LAYERS)")
            elif LAYERS[other] > LAYERS[own]:
                found.append(f"{module} (layer {LAYERS[own]}) imports {name} (layer {LAYERS[other]}), a higher layer")
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    unknown = {top_part(module_name(path)) for path in modules()} - set(LAYERS)
    assert not unknown, f"give these a layer in LAYERS: {sorted(unknown)}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_layers_point_one_way(path):
    assert violations(module_name(path), path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("module, source, expected", [
    ("crmcli.customers", "from crmcli.cli import common", "a higher layer"),
    ("crmcli.db", "def f():\n    from crmcli import customers", "a higher layer"),
    ("crmcli.errors", "import crmcli.db", "a higher layer"),
    ("crmcli.reports.summary", "import typer", "only cli/ may"),
    ("crmcli.customers", "import numpy as np", "only analytics/ may"),
    ("crmcli.output.render", "from scipy import special", "only analytics/ may"),
])
def test_the_check_finds_a_forbidden_import(module, source, expected):
    """The check itself can fail: each of these, added to a real module, would be reported."""
    found = violations(module, source)
    assert len(found) == 1 and expected in found[0], found


def test_allowed_imports_pass():
    assert violations("crmcli.cli.customer", "from crmcli import customers, db\nimport typer") == []
    assert violations("crmcli.analytics.pareto", "import numpy as np\nfrom scipy import special") == []
    assert violations("crmcli.transfer.exports", "from crmcli import output, values") == []
