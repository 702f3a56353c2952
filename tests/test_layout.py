"""The package's shape, measured from its own source (ast, nothing imported): no arrow from
the library up into the CLI layer, no import cycle, files and functions short enough to read
at once, and every plugin module listed in its registry. See docs/internal/architecture.md.
"""

from __future__ import annotations

import ast
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "eqvl"

MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80

#: files allowed over MAX_FILE_LINES, each with the reason (a TODO names work in progress)
LONG_FILES: dict[str, str] = {}

#: functions ("module:qualified.name") allowed over MAX_FUNCTION_LINES, each with the reason
LONG_FUNCTIONS: dict[str, str] = {}

#: modules that may import from eqvl.commands (the CLI layer itself)
CLI_LAYER = ("eqvl.cli", "eqvl.__main__", "eqvl.commands")

#: function-level imports that close an import cycle ("importer -> imported": why it stays lazy).
#: Any other lazy import is fine (it defers a heavy dependency) as long as it closes no cycle.
LAZY_CYCLE_EDGES: dict[str, str] = {}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    line: int
    lazy: bool  # inside a function body: runs when called, not when the module is imported


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = source_files()
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module a `from X import ...` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    is_package = MODULES.get(importer, Path()).name == "__init__.py"
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(importer: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """eqvl modules an import statement loads: `from pkg import sub` names the submodule when
    there is one, else the package itself."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = _resolve(importer, node)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    return sorted({n for n in names if n == "eqvl" or n.startswith("eqvl.")})


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(name: str) -> list[Import]:
    """Every import of an eqvl module in `name`'s source, marked lazy when inside a function.
    Imports under `if TYPE_CHECKING:` never run and are left out."""
    tree = TREES[name]
    found: list[Import] = []

    def walk(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    walk(sub, lazy)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend(Import(name, t, child.lineno, lazy) for t in _targets(name, child))
            walk(child, lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    walk(tree, False)
    return found


ALL_IMPORTS = [imp for name in MODULES for imp in imports_of(name)]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a self-import), Tarjan."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _graph(include_lazy: bool) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for imp in ALL_IMPORTS:
        if imp.target in MODULES and imp.target != imp.importer and (include_lazy or not imp.lazy):
            if include_lazy and imp.lazy and f"{imp.importer} -> {imp.target}" in LAZY_CYCLE_EDGES:
                continue
            edges.setdefault(imp.importer, set()).add(imp.target)
    return edges


def test_the_walk_sees_the_package():
    """Guards the other tests against walking nothing (a moved src folder, a broken parser)."""
    assert {"eqvl.cli", "eqvl.registry", "eqvl.benchmarks.base", "eqvl.losses.registry"} <= set(MODULES)
    assert any(i.importer == "eqvl.benchmarks.base" and i.target == "eqvl.registry" for i in ALL_IMPORTS)
    assert any(i.lazy for i in ALL_IMPORTS) and any(not i.lazy for i in ALL_IMPORTS)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_nothing_imports_the_cli_layer():
    upward = [f"{i.importer}:{i.line} imports {i.target}" for i in ALL_IMPORTS
              if (i.target == "eqvl.commands" or i.target.startswith("eqvl.commands."))
              and not any(i.importer == c or i.importer.startswith(c + ".") for c in CLI_LAYER)]
    assert upward == [], "the library must not import from eqvl.commands (move the code into the library)"


def test_no_import_cycle_at_module_level():
    assert _cycles(_graph(include_lazy=False)) == []


def test_no_lazy_import_hides_a_cycle():
    """A function-level import that closes a cycle is still a circle for the reader; only the
    documented ones in LAZY_CYCLE_EDGES are allowed."""
    assert _cycles(_graph(include_lazy=True)) == []
    every = {f"{i.importer} -> {i.target}" for i in ALL_IMPORTS if i.lazy}
    assert sorted(set(LAZY_CYCLE_EDGES) - every) == [], "stale entries in LAZY_CYCLE_EDGES"


def _length(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_files_are_short():
    long = {str(p.relative_to(PACKAGE)): _length(p) for p in MODULES.values() if _length(p) > MAX_FILE_LINES}
    assert sorted(set(long) - set(LONG_FILES)) == [], f"files over {MAX_FILE_LINES} lines: {long}"
    assert sorted(set(LONG_FILES) - set(long)) == [], "these files are short now: remove them from LONG_FILES"


def _functions(name: str) -> dict[str, int]:
    """'module:qualified.name' -> lines (decorators excluded) of every function, nested ones too."""
    tree = TREES[name]
    sizes: dict[str, int] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qual = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    sizes[f"{name}:{qual}"] = child.end_lineno - child.lineno + 1
                walk(child, qual + ".")
            else:
                walk(child, prefix)

    walk(tree, "")
    return sizes


def test_functions_are_short():
    sizes = {k: v for name in MODULES for k, v in _functions(name).items()}
    long = {k: v for k, v in sizes.items() if v > MAX_FUNCTION_LINES}
    assert sorted(set(long) - set(LONG_FUNCTIONS)) == [], f"functions over {MAX_FUNCTION_LINES} lines: {long}"
    assert sorted(set(LONG_FUNCTIONS) - set(long)) == [], "these functions are short now: remove them from LONG_FUNCTIONS"


def _decorated_with(decorator: str) -> set[str]:
    """Modules (relative to their package) whose classes use `@decorator(...)`."""
    found = set()
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for dec in node.decorator_list:
                    if isinstance(dec, ast.Call) and getattr(dec.func, "id", getattr(dec.func, "attr", "")) == decorator:
                        found.add(name)
    return found


def _registry_modules(module: str, variable: str) -> set[str]:
    """The modules a `VARIABLE = Registry(kind, package, [modules])` lists, read from the source."""
    for node in TREES[module].body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if getattr(target, "id", None) == variable and isinstance(node.value, ast.Call):
            package, modules = (ast.literal_eval(arg) for arg in node.value.args[1:3])
            return {f"{package}.{m}" for m in modules}
    raise AssertionError(f"no {variable} = Registry(...) in {module}")


def test_every_loss_module_registers_a_term():
    """LOSSES discovers its modules: every module of eqvl.losses but the infrastructure is a term file."""
    from eqvl.losses.registry import INFRASTRUCTURE

    package = [m for m in MODULES if m.startswith("eqvl.losses.")]
    terms = {m for m in package if m.rsplit(".", 1)[1] not in INFRASTRUCTURE and not m.rsplit(".", 1)[1].startswith("_")}
    decorated = {m for m in terms if "register_loss(" in MODULES[m].read_text(encoding="utf-8")}
    assert sorted(terms - decorated) == [], "modules in eqvl.losses that register no term (move them or register one)"
    assert {"eqvl.losses.itc", "eqvl.losses.eqsim", "eqvl.losses.ce", "eqvl.losses.hardpos"} <= terms


@pytest.mark.parametrize("decorator, registry", [
    ("register_benchmark", "eqvl.benchmarks.base:READERS"),
])
def test_every_plugin_module_is_listed_in_its_registry(decorator, registry):
    listed = _registry_modules(*registry.split(":"))
    assert sorted(listed - set(MODULES)) == [], f"{registry} lists modules that do not exist"
    decorated = _decorated_with(decorator)
    assert decorated, f"no class uses @{decorator}"
    assert sorted(decorated - listed) == [], f"add these modules to {registry}"


#: names that tools treat as generated output (black's default exclude, the common Python .gitignore)
ARTEFACT_NAMES = {"build", "dist", "_build", "site-packages", "__pypackages__"}


def test_no_package_or_top_level_folder_is_named_like_a_build_artefact():
    repo = SRC.parent
    # folders that hold tracked files (an untracked build/ from a local `pip wheel` is not ours)
    listed = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout
    tracked_top = {line.split("/", 1)[0] for line in listed.splitlines() if "/" in line}
    packages = {p.parent.relative_to(SRC).as_posix() for p in PACKAGE.rglob("__init__.py")}
    bad = sorted(n for n in tracked_top if n in ARTEFACT_NAMES)
    bad += sorted(p for p in packages if set(p.split("/")) & ARTEFACT_NAMES)
    assert not bad, f"named like generated output (tools skip or ignore these): {bad}"
