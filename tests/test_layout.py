"""The package's shape: engines below, front ends (cli, web) above, no import cycles, a cheap start-up."""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

import pytest

import brushwork
from brushwork.cli import build_parser, main

PACKAGE = Path(brushwork.__file__).parent
FRONT_ENDS = ("brushwork.cli", "brushwork.web", "brushwork.__main__")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """ids of nodes under ``if TYPE_CHECKING:``: imports for type checkers, never executed."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    return skipped


def _imports(path: Path, modules: set[str]) -> set[str]:
    """brushwork modules that ``path`` imports anywhere (top level or inside functions).

    ``from brushwork import losses`` counts as importing ``brushwork.losses``, not the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_blocks(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            names = [s for s in subs if s in modules]
            if len(names) < len(subs):
                names.append(node.module)
        found.update(n for n in names if n in modules)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    return {name: _imports(path, modules) - {name} for name, path in files.items()}


def _is_front_end(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FRONT_ENDS)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    # Package __init__ files that only document are not edges; a package importing its own
    # submodule (cli/__init__ -> cli.main) is re-export, not a cycle, unless the child imports back.
    assert _cycles(_graph()) == []


def test_engines_never_import_front_ends():
    upward = [(m, i) for m, deps in _graph().items() if not _is_front_end(m)
              for i in deps if _is_front_end(i)]
    assert upward == []


def _package_of(module: str) -> str | None:
    """``brushwork.batch.plan`` -> ``brushwork.batch``; None for a module at the top (``config``)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else None


def test_no_two_packages_import_each_other():
    # Module cycles are refused above; this is the looser tie: batch -> evaluation while
    # evaluation -> batch (through different modules) makes the two one package in all but name.
    edges = {(_package_of(m), _package_of(i)) for m, deps in _graph().items() for i in deps}
    ties = sorted((a, b) for a, b in edges if a and b and a < b and (b, a) in edges)
    assert ties == []


def _explained(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, or above the run of import lines it belongs to."""
    if "#" in lines[lineno - 1]:
        return True
    above = lineno - 2
    while above >= 0 and lines[above].strip().startswith(("from ", "import ")):
        above -= 1
    return above >= 0 and lines[above].strip().startswith("#")


def _local_imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, module, commented) of each brushwork import inside a function of ``path``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    tree = ast.parse("\n".join(lines))
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else None
            if isinstance(node, ast.Import):
                module = node.names[0].name
            if module and (module.startswith("brushwork") or getattr(node, "level", 0)):
                found.append((node.lineno, module, _explained(lines, node.lineno)))
    return found


def test_brushwork_imports_inside_functions_are_few_and_explained():
    # cli/ imports its engines in run() on purpose (a quick --help); the Ray worker imports in the
    # actor process. Elsewhere an import in a function is a cycle or a heavy optional part, said why.
    exempt = ("cli", "batch/worker.py")
    local = {f"{p.relative_to(PACKAGE)}:{line} {module}": commented
             for p in PACKAGE.rglob("*.py") if not str(p.relative_to(PACKAGE)).startswith(exempt)
             for line, module, commented in _local_imports(p)}
    assert len(local) <= 10, sorted(local)
    assert [where for where, commented in local.items() if not commented] == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_subcommand_has_help(capsys):
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"stylize", "train", "apply", "export", "models", "evaluate", "serve", "weights"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert f"usage: brushwork {name}" in capsys.readouterr().out


def test_public_api_names_every_capability():
    for name in ("stylize", "apply", "train", "evaluate", "StylizeConfig", "ApplyConfig", "TrainConfig",
                 "EvaluateConfig"):
        assert callable(getattr(brushwork, name)), name
        assert getattr(brushwork, name).__doc__, name
    with pytest.raises(AttributeError):
        brushwork.no_such_thing  # noqa: B018


def test_help_starts_without_torch():
    """``brushwork --help`` must not pay torch's ~2 s import: it needs only argparse and configs."""
    code = ("import sys, runpy; sys.argv = ['brushwork', '--help']\n"
            "try:\n    from brushwork.cli.main import main; main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'numpy', 'PIL', 'fastapi', 'onnxruntime') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    elapsed = time.perf_counter() - started
    assert "HEAVY []" in out
    assert elapsed < 3.0  # a loose bound for loaded CI machines; measured ~0.1 s here
