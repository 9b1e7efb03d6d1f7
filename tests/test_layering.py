"""The house rules the package's imports and calls must keep (read from the source, not assumed)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mentalglm"


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
    assert adapter_checks == ["publish.py:resolve_adapter"]
