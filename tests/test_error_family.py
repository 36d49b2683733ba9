"""The library raises only the GeobaseError family; every error class says what it is in one line.

Read from the source (ast): a ``raise`` of a builtin exception outside ``cli/`` and
``server/`` (the boundaries, which translate) fails, except where Python or a library's
protocol asks for the builtin (listed below with the reason).
"""

from __future__ import annotations

import ast
import builtins
import inspect
from pathlib import Path

import geobase.errors as errors_module
from geobase.errors import GeobaseError

PACKAGE = Path(errors_module.__file__).parent
BOUNDARIES = ("cli", "server")
BUILTIN_EXCEPTIONS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}
# (file, function, exception): where the builtin is the protocol
ALLOWED = {
    # pydantic validators raise ValueError; pydantic wraps it and the callers turn the
    # ValidationError into ConfigError / PlanError / ParameterFileError with the key
    ("*", "@validator", "ValueError"),
    # a module's __getattr__ must raise AttributeError (PEP 562)
    ("ingest/__init__.py", "__getattr__", "AttributeError"),
    # a system-call wrapper raises OSError like os.replace; atomic_folder and the writers
    # turn OSErrors about an output into OutputWriteError
    ("paths.py", "exchange", "OSError"),
    # json.dumps' default hook must raise TypeError for what it cannot convert
    ("values.py", "json_default", "TypeError"),
    # an internal invariant that cannot fail on any input: a bug if it does, like assert
    ("*", "*", "AssertionError"),
}


def _raised_builtins(path: Path) -> list[tuple[str, str, int]]:
    """(enclosing function or '@validator', builtin exception, line) of each raise."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, str, int]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                decorators = [ast.unparse(d) for d in child.decorator_list]
                validator = any("validator" in d for d in decorators)
                name = "@validator" if validator else child.name
            if isinstance(child, ast.Raise) and child.exc is not None:
                target = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                if isinstance(target, ast.Name) and target.id in BUILTIN_EXCEPTIONS:
                    found.append((name, target.id, child.lineno))
            visit(child, name)

    visit(tree, "<module>")
    return found


def _allowed(relative: str, function: str, exc: str) -> bool:
    return any(f in ("*", relative) and fn in ("*", function) and e == exc for f, fn, e in ALLOWED)


def test_the_library_raises_only_geobase_errors():
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.split("/")[0] in BOUNDARIES:
            continue
        for function, exc, line in _raised_builtins(path):
            if not _allowed(relative, function, exc):
                offences.append(f"geobase/{relative}:{line}: raise {exc} in {function}")
    assert not offences, "raise a GeobaseError subclass instead:\n" + "\n".join(offences)


def test_the_scan_finds_a_builtin_raise(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(x):\n    if x:\n        raise KeyError(x)\n    raise ValueError\n"
        "class M:\n    @field_validator('a')\n    def v(cls, a):\n        raise ValueError(a)\n"
    )
    assert _raised_builtins(sample) == [
        ("f", "KeyError", 3),
        ("f", "ValueError", 4),
        ("@validator", "ValueError", 8),
    ]


def test_every_error_class_has_a_one_line_docstring():
    classes = [
        cls
        for _, cls in inspect.getmembers(errors_module, inspect.isclass)
        if issubclass(cls, GeobaseError) and cls.__module__ == errors_module.__name__
    ]
    assert len(classes) > 40
    for cls in classes:
        doc = (cls.__doc__ or "").strip()
        assert doc and "\n" not in doc and doc.endswith("."), cls.__name__
