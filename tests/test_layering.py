"""The house rules the package's imports and calls must keep (read from the source, not assumed): no import
circle (function-level imports counted), no private name imported across packages, and the stage order never
climbed. Each rule is shown to fail on a small tree that breaks it."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mentalglm"

# The stage order, lowest first: a package imports only from packages of lower layers (its own aside).
LAYERS = [
    {"errors"},
    {"tasks", "runs"},
    {"config", "chat"},
    {"data", "cluster"},
    {"model"},
    {"plan"},
    {"train", "evaluate", "serve", "explain", "rating"},
    {"tune"},
    {"pipeline"},
    {"cli"},
]
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}


def _modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module under the package folder `root`."""
    mods = {}
    for path in root.rglob("*.py"):
        parts = (root.name, *path.relative_to(root).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def import_graph(root: Path) -> dict[str, set[tuple[str, str | None]]]:
    """Module -> {(imported module, imported name or None)} for every import in it, inside functions too."""
    mods = _modules(root)
    graph: dict[str, set[tuple[str, str | None]]] = {m: set() for m in mods}
    for module, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[tuple[str, str | None]] = []
            if isinstance(node, ast.ImportFrom):
                base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                if node.level:
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    targets.append((full, None) if full in mods else (target, alias.name))
            elif isinstance(node, ast.Import):
                targets = [(alias.name, None) for alias in node.names]
            for target, name in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != module and not module.startswith(target + "."):
                    graph[module].add((target, name))
    return graph


def circles(graph: dict[str, set[tuple[str, str | None]]]) -> list[list[str]]:
    """The import circles: strongly connected groups of more than one module (Tarjan, iterative)."""
    edges = {m: sorted({t for t, _ in targets}) for m, targets in graph.items()}
    index, low, on, stack, found, counter = {}, {}, set(), [], [], 0
    for start in edges:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def private_imports(graph: dict[str, set[tuple[str, str | None]]]) -> list[str]:
    """Imports of a private module or name (`_x`) of another package."""
    out = []
    for module, targets in graph.items():
        for target, name in targets:
            if _package(target) == _package(module):
                continue
            private = [p for p in target.split(".")[1:] if p.startswith("_")] + ([name] if name and
                                                                                   name.startswith("_") else [])
            if private:
                out.append(f"{module} imports {target}{'.' + name if name else ''}")
    return sorted(out)


def public_modules(root: Path) -> dict[str, set[str]]:
    """Package -> the modules its `__init__` lets other packages import (`PUBLIC_MODULES`, read without importing)."""
    faces = {}
    for init in root.glob("*/__init__.py"):
        for node in ast.parse(init.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PUBLIC_MODULES" for t in node.targets):
                faces[init.parent.name] = set(ast.literal_eval(node.value))
    return faces


def hidden_imports(graph: dict[str, set[tuple[str, str | None]]], faces: dict[str, set[str]]) -> list[str]:
    """Imports of another package's module that its `__init__` does not name (packages without a face: none)."""
    out = []
    for module, targets in graph.items():
        for target, _ in targets:
            parts = target.split(".")
            if len(parts) > 2 and _package(target) != _package(module) and parts[2] not in faces.get(parts[1], set()):
                out.append(f"{module} imports {target}, which mentalglm.{parts[1]} does not name")
    return sorted(set(out))


def upward_imports(graph: dict[str, set[tuple[str, str | None]]], rank: dict[str, int]) -> list[str]:
    """Imports of a package of the same or a later stage (`rank`: package -> layer); unranked packages too."""
    out = []
    for module, targets in graph.items():
        for target, _ in targets:
            mine, theirs = _package(module), _package(target)
            if mine == theirs or theirs == target == "mentalglm":
                continue
            if mine not in rank or theirs not in rank or rank[theirs] >= rank[mine]:
                out.append(f"{module} ({mine}) imports {target} ({theirs})")
    return sorted(set(out))


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "mentalglm" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "mentalglm"


def test_the_project_keeps_every_rule():
    graph = import_graph(PACKAGE)
    assert circles(graph) == []
    assert private_imports(graph) == []
    assert upward_imports(graph, RANK) == []
    assert hidden_imports(graph, public_modules(PACKAGE)) == []
    assert set(RANK) >= {_package(m) for m in graph if m != "mentalglm"}, "a package missing from LAYERS"


def test_a_circle_inside_a_function_is_found(tmp_path):
    root = _tree(tmp_path, {"__init__.py": "", "data/__init__.py": "", "model/__init__.py": "",
                            "data/a.py": "def f():\n    from mentalglm.model.b import g\n",
                            "model/b.py": "from mentalglm.data import a\n"})
    assert circles(import_graph(root)) == [["mentalglm.data.a", "mentalglm.model.b"]]
    assert upward_imports(import_graph(root), RANK) == [
        "mentalglm.data.a (data) imports mentalglm.model.b (model)"]


def test_a_private_import_across_packages_is_found(tmp_path):
    root = _tree(tmp_path, {"__init__.py": "", "data/__init__.py": "", "data/_io.py": "def _read(): pass\n",
                            "data/rows.py": "from mentalglm.data._io import _read\n",
                            "model/__init__.py": "", "model/tiny.py": "from mentalglm.data._io import _read\n",
                            "model/load.py": "from mentalglm.data.rows import _private\n"})
    assert private_imports(import_graph(root)) == ["mentalglm.model.load imports mentalglm.data.rows._private",
                                                   "mentalglm.model.tiny imports mentalglm.data._io._read"]


def test_an_import_of_a_module_the_package_does_not_name_is_found(tmp_path):
    root = _tree(tmp_path, {"__init__.py": "", "data/__init__.py": "PUBLIC_MODULES = ('records',)\n",
                            "data/records.py": "", "data/scrub.py": "", "model/__init__.py": "",
                            "model/tiny.py": "from mentalglm.data import records\nfrom mentalglm.data.scrub import x\n",
                            "data/build.py": "from mentalglm.data.scrub import x\n"})
    assert public_modules(root) == {"data": {"records"}}
    assert hidden_imports(import_graph(root), public_modules(root)) == [
        "mentalglm.model.tiny imports mentalglm.data.scrub, which mentalglm.data does not name"]


def test_an_upward_or_sideways_import_is_found(tmp_path):
    root = _tree(tmp_path, {"__init__.py": "", "tasks/__init__.py": "from mentalglm.config import x\n",
                            "config/__init__.py": "", "serve/__init__.py": "", "train/__init__.py": "",
                            "serve/app.py": "import mentalglm.train\n",
                            "config/a.py": "from mentalglm.tasks import y\n"})
    assert upward_imports(import_graph(root), RANK) == [
        "mentalglm.serve.app (serve) imports mentalglm.train (train)",
        "mentalglm.tasks (tasks) imports mentalglm.config (config)"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_serve_and_train_never_import_evaluate():
    offenders = {f"{p.relative_to(PACKAGE)}: {m}" for sub in ("serve", "train") for p in (PACKAGE / sub).rglob("*.py")
                 for m in _imports(p) if m == "mentalglm.evaluate" or m.startswith("mentalglm.evaluate.")}
    assert offenders == set()


def test_one_generation_loop_and_one_adapter_resolution():
    generate_calls, adapter_checks = [], []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "generate" \
                    and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "model":
                generate_calls.append(str(path.relative_to(PACKAGE)))
            if isinstance(node, ast.FunctionDef) and node.name in ("resolve_adapter", "local_copy"):
                adapter_checks.append(f"{path.relative_to(PACKAGE)}:{node.name}")
    assert set(generate_calls) == {"model/inference.py"}, generate_calls
    assert adapter_checks == ["runs/publish.py:resolve_adapter"]
