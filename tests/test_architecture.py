"""The rules of docs/architecture.md, checked on the code itself (its import graph and
syntax trees), and the document's module map checked against the modules that exist."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"seedchat": REPO / "seedchat"}
DOC = REPO / "docs" / "architecture.md"
MAX_MODULE_LINES = 600
MAX_UI_FUNCTION_LINES = 80
# The store's modules, lowest first: each may import only those before it.
STORE_LAYERS = [
    "db",
    "sqlite_utils_import",
    "records",
    "attachments",
    "migrations",
    "search",
    "recorder",
    "conversations",
    "export",
    "sweeps",
]
# What the store and the other lower layers must never reach for.
ENGINE_SIDE = (
    "seedchat.engine",
    "seedchat.backend",
    "seedchat.chat",
    "llama_cpp",
)
# At most this many modules at the top of seedchat/ (besides __init__ and __main__):
# families of modules live in packages.
MAX_TOP_MODULES = 12


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    imports: set[str] = field(default_factory=set)  # every module it imports, anywhere

    @property
    def lines(self) -> int:
        return len(self.path.read_text(encoding="utf-8").splitlines())


def _module_name(prefix: str, root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([prefix, *parts])


def _imports(name: str, tree: ast.Module, is_package: bool) -> set[str]:
    found: set[str] = set()
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def load_modules() -> dict[str, Module]:
    modules = {}
    for prefix, root in ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            if prefix == "seedchat" and path.is_relative_to(REPO / "seedchat" / "data"):
                continue
            name = _module_name(prefix, root, path)
            tree = ast.parse(path.read_text(encoding="utf-8"))
            imports = _imports(name, tree, path.name == "__init__.py")
            modules[name] = Module(name, path, tree, imports)
    return modules


MODULES = load_modules()


def _reaches(module: Module, target: str) -> bool:
    return any(i == target or i.startswith(target + ".") for i in module.imports)


def _is_ui(name: str) -> bool:
    return name == "seedchat.ui" or name.startswith("seedchat.ui.")


def _library(name: str) -> bool:
    """The library: seedchat/ without its command line (a front end, like the UI)."""
    return not (_is_ui(name) or name.startswith(("seedchat.cli", "seedchat.converters")))


def test_the_library_never_imports_the_ui():
    offenders = [
        m.name for m in MODULES.values() if _library(m.name) and _reaches(m, "seedchat.ui")
    ]
    assert offenders == []


def test_only_the_ui_and_its_starter_import_gradio():
    offenders = [m.name for m in MODULES.values() if _reaches(m, "gradio") and not _is_ui(m.name)]
    assert offenders == []


def test_the_store_never_imports_the_engine():
    store = [m for m in MODULES.values() if m.name.startswith("seedchat.store")]
    assert store, "seedchat/store/ is missing"
    offenders = [(m.name, t) for m in store for t in ENGINE_SIDE if _reaches(m, t)]
    assert offenders == []


def test_the_store_imports_in_one_direction():
    for i, layer in enumerate(STORE_LAYERS):
        module = MODULES[f"seedchat.store.{layer}"]
        later = [f"seedchat.store.{name}" for name in STORE_LAYERS[i + 1 :]]
        wrong = [t for t in later if _reaches(module, t)]
        assert wrong == [], f"seedchat.store.{layer} imports {wrong}, which come after it"
    assert {n.rpartition(".")[2] for n in MODULES if n.startswith("seedchat.store.")} == set(
        STORE_LAYERS
    ), "a new store module needs its place in STORE_LAYERS (and in docs/architecture.md)"


def test_no_type_checking_imports_to_hide_cycles():
    offenders = [m.name for m in MODULES.values() if "TYPE_CHECKING" in ast.unparse(m.tree)]
    assert offenders == []


def _private_definitions(tree: ast.Module) -> set[str]:
    """Private names a module defines: functions, classes, methods, attributes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_no_module_uses_another_modules_private_names():
    own = {name: _private_definitions(m.tree) for name, m in MODULES.items()}
    everyone = set().union(*own.values())
    offenders = []
    for name, module in MODULES.items():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("seedchat"):
                offenders += [
                    (name, a.name)
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                attr = node.attr
                private = attr.startswith("_") and not attr.startswith("__")
                if private and attr in everyone and attr not in own[name]:
                    offenders.append((name, attr))
    assert offenders == []


def test_modules_stay_small():
    big = [(m.name, m.lines) for m in MODULES.values() if m.lines > MAX_MODULE_LINES]
    assert big == []


def test_ui_functions_stay_short():
    long = []
    for m in MODULES.values():
        if not _is_ui(m.name):
            continue
        for node in ast.walk(m.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_UI_FUNCTION_LINES:
                    long.append((m.name, node.name, length))
    assert long == []


def _section(title: str) -> str:
    """The text of one `## title` section of docs/architecture.md."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _documented_modules() -> set[str]:
    """The modules docs/architecture.md's map names, as `path/to/module.py`."""
    return set(re.findall(r"`(seedchat/[\w/]+\.py)`", _section("Module map")))


def _path_of(module: Module) -> str:
    return module.path.relative_to(REPO).as_posix()


def test_the_architecture_document_maps_every_module():
    documented = _documented_modules()
    real = {_path_of(m) for m in MODULES.values() if m.path.name not in ("__main__.py",)}
    real = {p for p in real if not p.endswith("__init__.py") or p.count("/") > 1}
    missing = sorted(p for p in real - documented if not p.endswith("__init__.py"))
    stale = sorted(documented - {_path_of(m) for m in MODULES.values()})
    assert missing == [], f"docs/architecture.md does not place {missing}"
    assert stale == [], f"docs/architecture.md names modules that do not exist: {stale}"


@pytest.mark.parametrize(
    "rule",
    [
        "seedchat/ never imports seedchat.ui",
        "the store never imports the engine",
        "no module calls another's private name",
    ],
)
def test_the_document_states_the_rules_this_file_checks(rule):
    assert rule in DOC.read_text(encoding="utf-8")


# -- the layers and the picture --------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    number: int
    name: str
    entries: tuple[str, ...]  # `seedchat/x.py` (a module) or `seedchat/x/` (a package)


def read_layers() -> list[Layer]:
    """The ordered list of "Layers and rules": `N. **name**: `path`, `path`, …`."""
    layers = []
    for line in _section("Layers and rules").splitlines():
        found = re.match(r"(\d+)\. \*\*([^*]+)\*\*: (.+)$", line)
        if found:
            entries = tuple(re.findall(r"`(seedchat/[\w/]*(?:\.py)?)`", found[3]))
            layers.append(Layer(int(found[1]), found[2], entries))
    return layers


LAYERS = read_layers()


def _entry_holds(entry: str, path: str) -> bool:
    return path == entry if entry.endswith(".py") else path.startswith(entry)


def _layer_of(module: Module) -> list[Layer]:
    path = _path_of(module)
    return [layer for layer in LAYERS if any(_entry_holds(e, path) for e in layer.entries)]


LAYER_OF = {name: found[0] for name, m in MODULES.items() if len(found := _layer_of(m)) == 1}


def _internal_imports(module: Module) -> set[str]:
    """The modules of the package it imports, each import resolved to its module
    (`seedchat.seed.budget.MAX_BUDGET` → `seedchat.seed.budget`)."""
    found = set()
    for imported in module.imports:
        parts = imported.split(".")
        for k in range(len(parts), 0, -1):
            candidate = ".".join(parts[:k])
            if candidate in MODULES:
                if candidate != module.name:
                    found.add(candidate)
                break
    return found


def _describe(layer: Layer) -> str:
    return f"layer {layer.number}, {layer.name}"


def test_the_layers_are_numbered_in_order_and_name_real_modules():
    assert len(LAYERS) >= 5, "docs/architecture.md's 'Layers and rules' list was not found"
    assert [layer.number for layer in LAYERS] == list(range(1, len(LAYERS) + 1))
    paths = [_path_of(m) for m in MODULES.values()]
    empty = [
        f"{_describe(layer)} names `{entry}`"
        for layer in LAYERS
        for entry in layer.entries
        if not any(_entry_holds(entry, p) for p in paths)
    ]
    assert empty == [], f"docs/architecture.md's layers name modules that do not exist: {empty}"


def test_every_module_is_in_exactly_one_layer():
    problems = []
    for name, module in sorted(MODULES.items()):
        found = _layer_of(module)
        if len(found) > 1:
            where = ", ".join(_describe(layer) for layer in found)
            problems.append(f"{name} ({_path_of(module)}) is in several layers: {where}")
        elif not found:
            below = [LAYER_OF[i] for i in _internal_imports(module) if i in LAYER_OF]
            lowest = max(below, key=lambda layer: layer.number) if below else LAYERS[0]
            problems.append(
                f"{name} ({_path_of(module)}) is in no layer of docs/architecture.md's "
                f"'Layers and rules': add it to {_describe(lowest)} or a later one "
                f"(the highest of what it imports)"
            )
    assert problems == [], "\n".join(problems)


def test_every_import_goes_to_the_same_layer_or_a_lower_one():
    wrong = []
    for name, module in sorted(MODULES.items()):
        if name not in LAYER_OF:
            continue  # reported by test_every_module_is_in_exactly_one_layer
        own = LAYER_OF[name]
        for target in sorted(_internal_imports(module)):
            theirs = LAYER_OF.get(target)
            if theirs is not None and theirs.number > own.number:
                wrong.append(
                    f"{name} ({_describe(own)}) imports {target} ({_describe(theirs)}), "
                    "a later layer"
                )
    assert wrong == [], "a module imports from a layer after its own:\n" + "\n".join(wrong)


ARROW = "──►"


def read_arrows() -> list[tuple[str, str]]:
    """Every `A ──► B` of the picture in "One picture" (a chain A ──► B ──► C is two)."""
    block = re.search(r"```\n(.*?)```", _section("One picture"), re.S)
    assert block, "docs/architecture.md's 'One picture' has no picture"
    return re.findall(rf"(\S+) {ARROW}(?= (\S+))", block[1])


ARROWS = read_arrows()


def _picture_target(name: str) -> tuple[str, list[Module]]:
    """A picture's name → the import it stands for and the modules it covers (none for a
    library outside the package)."""
    if name.endswith((".py", "/")):
        path = f"seedchat/{name}"
        covered = [m for m in MODULES.values() if _entry_holds(path, _path_of(m))]
        dotted = "seedchat." + name.removesuffix(".py").strip("/").replace("/", ".")
        return dotted, covered
    return name, []


def test_the_picture_has_arrows_and_names_real_modules():
    assert len(ARROWS) >= 10, "the picture's arrows were not found"
    unknown = []
    for a, b in ARROWS:
        if not _picture_target(a)[1]:
            unknown.append(f"{a} (left of {a} {ARROW} {b}) is not a module or package")
        if b.endswith((".py", "/")) and not _picture_target(b)[1]:
            unknown.append(f"{b} (right of {a} {ARROW} {b}) is not a module or package")
    assert unknown == [], "docs/architecture.md's picture: " + "; ".join(unknown)


def test_every_arrow_of_the_picture_is_an_import_that_goes_down_the_layers():
    wrong = []
    for a, b in ARROWS:
        _, importers = _picture_target(a)
        target, imported = _picture_target(b)
        if not importers or (b.endswith((".py", "/")) and not imported):
            continue  # reported by test_the_picture_has_arrows_and_names_real_modules
        if not any(_reaches(m, target) for m in importers):
            wrong.append(f"{a} {ARROW} {b}: no module of {a} imports {target}")
        for m in importers:
            for other in imported:
                low, high = LAYER_OF.get(other.name), LAYER_OF.get(m.name)
                if low and high and low.number > high.number:
                    wrong.append(
                        f"{a} {ARROW} {b} points up: {m.name} is in {_describe(high)}, "
                        f"{other.name} in {_describe(low)}"
                    )
    assert wrong == [], "docs/architecture.md's picture:\n" + "\n".join(sorted(set(wrong)))


# -- circles ---------------------------------------------------------------------------


def import_graph(modules: dict[str, Module]) -> dict[str, set[str]]:
    """Each module → the modules of the package it imports, anywhere in it (a function's
    own imports included: a circle hidden in a function is still a circle). A module's own
    packages are left out: Python runs a package's ``__init__`` before any module of it, so
    ``from seedchat.converters import one_pass`` inside the package is no edge back to it."""
    return {
        name: {t for t in _internal_imports(m) & modules.keys() if not name.startswith(t + ".")}
        for name, m in modules.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def unit_of(name: str) -> str:
    """A module's unit: its package below seedchat/ (`seedchat.engine`), or the module
    itself at the top (`seedchat.settings`)."""
    parts = name.split(".")
    path = REPO.joinpath(*parts)
    return ".".join(parts[:2]) if len(parts) > 2 or path.is_dir() else name


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    units: dict[str, set[str]] = {}
    for name, targets in graph.items():
        mine = unit_of(name)
        units.setdefault(mine, set()).update(u for t in targets if (u := unit_of(t)) != mine)
    return units


def test_no_import_circle_between_modules():
    assert circles(import_graph(MODULES)) == []


def test_no_import_circle_between_packages():
    assert circles(package_graph(import_graph(MODULES))) == []


def test_a_circle_added_on_purpose_is_found():
    graph = import_graph(MODULES)
    graph["seedchat.events"] = graph["seedchat.events"] | {"seedchat.chat.session"}
    found = circles(graph)
    assert any({"seedchat.events", "seedchat.chat.session"} <= set(c) for c in found)
    # and between packages: the store reaching for the chat it serves
    graph = import_graph(MODULES)
    graph["seedchat.store.db"] = graph["seedchat.store.db"] | {"seedchat.chat.answer"}
    assert ["seedchat.chat", "seedchat.store"] in circles(package_graph(graph))


def test_few_modules_stay_at_the_top():
    top = [p.name for p in (REPO / "seedchat").glob("*.py")]
    top = sorted(set(top) - {"__init__.py", "__main__.py"})
    assert len(top) <= MAX_TOP_MODULES, f"{len(top)} modules at the top of seedchat/: {top}"


def test_the_layers_name_packages_whole():
    """A package is placed as one (`seedchat/engine/`), never module by module."""
    named = {e for layer in LAYERS for e in layer.entries}
    packages = sorted(
        f"seedchat/{p.parent.name}/" for p in (REPO / "seedchat").glob("*/__init__.py")
    )
    missing = [p for p in packages if p not in named]
    split = sorted(e for e in named if e.endswith(".py") and e.count("/") > 1)
    assert missing == [], f"docs/architecture.md's layers do not name the packages {missing}"
    assert split == [], f"docs/architecture.md's layers place package modules alone: {split}"


def test_every_package_ships_in_the_wheel():
    """pyproject.toml lists the packages by hand: a new package not listed is missing from
    the wheel (and from every install but an editable one)."""
    import tomllib

    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    real = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "seedchat").rglob("__init__.py")
        if "data" not in p.relative_to(REPO).parts
    }
    assert real - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
