"""The layers of docs/architecture.md, checked on the source: nothing but URL modules imports a
view, no module reaches for another package's private names, no project module is looked up by
a string, and no signal is sent that nothing receives."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("portal", "cards", "billing", "bench")
VIEW_PACKAGES = ("cards.views", "billing.views", "portal.views")
# To do: bench/statements.py times the statement file writers, private to
# billing/services/statements/files.py until that module (changed by the exports work) names
# them publicly.
KNOWN_PRIVATE_USES = {
    ("bench/statements.py", "billing.services.statements._write_csv"),
    ("bench/statements.py", "billing.services.statements._write_files"),
    ("bench/statements.py", "billing.services.statements._write_pdf"),
    ("bench/statements.py", "billing.services.statements._write_xlsx"),
}


def _modules() -> Iterator[tuple[str, str, ast.Module]]:
    """Each source module: its path, its package and its syntax tree."""
    for app in SOURCES:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            relative = path.relative_to(ROOT)
            dotted = ".".join(relative.with_suffix("").parts)
            package = dotted.removesuffix(".__init__") if path.name == "__init__.py" else dotted
            package = package if path.name == "__init__.py" else package.rsplit(".", 1)[0]
            yield str(relative), package, ast.parse(path.read_text(encoding="utf-8"))


def _is_module(dotted: str) -> bool:
    path = ROOT / dotted.replace(".", "/")
    return path.with_suffix(".py").exists() or path.is_dir()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _inside(package: str, source: str) -> bool:
    """Whether ``source`` (a module or package) belongs to ``package`` or is ``package``."""
    return source == package or source.startswith(package + ".")


def test_nothing_but_url_modules_and_views_imports_a_view() -> None:
    offenders = []
    for path, _package, tree in _modules():
        if Path(path).name.endswith("urls.py") or "/views/" in f"/{path}":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(_inside(views, name) for name in names for views in VIEW_PACKAGES):
                offenders.append(f"{path}:{node.lineno}")
    assert not offenders, f"import from cards.selectors or billing.downloads instead: {offenders}"


def test_no_module_uses_another_packages_private_names() -> None:
    offenders = set()
    for path, package, tree in _modules():
        modules: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    if _private(alias.name) and not _inside(package, node.module):
                        offenders.add((path, f"{node.module}.{alias.name}"))
                    if _is_module(f"{node.module}.{alias.name}"):
                        modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        modules[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and _private(node.attr)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and modules[node.value.id].split(".")[0] in SOURCES
                and not _inside(package, modules[node.value.id])
            ):
                offenders.add((path, f"{modules[node.value.id]}.{node.attr}"))
    assert offenders == KNOWN_PRIVATE_USES, "give the helper a public name in its home module"


def test_no_project_module_is_imported_by_a_string() -> None:
    """A rename must fail at import time, not be skipped at run time."""
    pattern = re.compile(r"import_module\(\s*f?[\"'](?:portal|cards|billing)\.")
    offenders = [
        path
        for app in ("portal", "cards", "billing")
        for path in sorted((ROOT / app).rglob("*.py"))
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert not offenders


def test_every_signal_defined_has_a_receiver() -> None:
    sources = {
        path: path.read_text(encoding="utf-8")
        for app in SOURCES
        for path in sorted((ROOT / app).rglob("*.py"))
    }
    defined = {
        name
        for text in sources.values()
        for name in re.findall(r"^(\w+)\s*=\s*(?:dispatch\.)?Signal\(", text, re.MULTILINE)
    }
    received = {
        name
        for text in sources.values()
        for name in defined
        if re.search(rf"\b{name}\.connect\(|@receiver\(\s*{name}\b", text)
    }
    assert defined == received, f"signals nothing receives: {sorted(defined - received)}"
