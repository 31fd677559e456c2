"""The shape of the code holds: no import cycles, every module imports alone, imports stay at module top
outside the CLI (except where a comment says they keep start-up fast), and the offline analysis never loads
the model client. The layer contract itself is `lint-imports` (pyproject.toml), run in the test command."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parent.parent / "finmatch_agents"


def _modules() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] != "__main__":  # running it is its job
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def test_no_import_cycles_not_even_for_type_checking() -> None:
    graph = grimp.build_graph("finmatch_agents", exclude_type_checking_imports=False)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert not cycles


def test_every_module_imports_alone() -> None:
    """Each module imports with no other of ours loaded first (so no hidden order dependency)."""
    script = (
        "import importlib, sys\n"
        f"names = {_modules()!r}\n"
        "failed = []\n"
        "for name in names:\n"
        "    for loaded in [m for m in sys.modules if m == 'finmatch_agents' or m.startswith('finmatch_agents.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except BaseException as exc:\n"
        "        failed.append(f'{name}: {exc!r}')\n"
        "print('\\n'.join(failed))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_imports_inside_functions_only_in_the_cli_or_for_start_up_speed() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "cli" in path.relative_to(PACKAGE).parts or path.name == "__main__.py":
            continue  # commands import what they run when they run (finmatch --help stays fast)
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    module = inner.module if isinstance(inner, ast.ImportFrom) else inner.names[0].name
                    line = lines[inner.lineno - 1]
                    if (module or "").startswith("finmatch_agents") and "start-up speed" not in line:
                        offenders.append(f"{path.relative_to(PACKAGE)}:{inner.lineno} {module}")
    assert not offenders


def test_offline_analysis_never_loads_the_model_client(small_db: Path, tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from finmatch_agents.config import load_settings\n"
        "from finmatch_agents.runner import RunRequest, run_analysis\n"
        f"s = load_settings(db=Path({str(small_db)!r}), reports_dir=Path({str(tmp_path / 'r')!r}), "
        f"state_dir=Path({str(tmp_path / 's')!r}), env={{}})\n"
        "run_analysis(s, RunRequest(focus=['performance']), lambda e: None)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('langchain_openai', 'openai'))))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
