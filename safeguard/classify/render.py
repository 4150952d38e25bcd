"""Render a revision through Alembic's offline (``as_sql``) mode and classify the SQL.

The revision module is executed in a private namespace (never put in
``sys.modules``), its ``op`` is replaced by an :class:`~alembic.operations.Operations`
bound to an offline :class:`~alembic.runtime.migration.MigrationContext`, and
``upgrade()``/``downgrade()`` is called. Alembic then writes every statement to an
output buffer instead of a database; ``op.get_bind()`` is Alembic's mock
connection, which does the same for ``bind.execute(...)``. Nothing reaches a
database: there is no connection to reach one with.

Rendering is fail-soft. A module that does not import, or raises while rendering
(ORM sessions, ``.fetchall()`` on the mock connection, SQLite batch mode without
reflection), contributes whatever it emitted before failing, and the static
analysis carries the rest.

Executing the module is the one risk, so only modules that stick to alembic,
SQLAlchemy and a harmless part of the standard library are rendered; anything
importing application code, touching files, processes or sockets, or making an
engine of its own is left to the static analysis.
"""

from __future__ import annotations

import ast
import contextlib
import io
import sys
import warnings
from dataclasses import dataclass
from types import CodeType

from safeguard.classify.dialects import RENDER_DIALECT_BLIND, RENDER_WITHOUT_DIALECT, sqlglot_name
from safeguard.classify.recorder import FindingSet
from safeguard.classify.sql import classify_sql
from safeguard.classify.state import SchemaState

_RENDERABLE_PACKAGES = frozenset({"alembic", "sqlalchemy", "sqlmodel"})
#: Standard library modules a revision may not import if it is to be executed here.
_UNSAFE_STDLIB = frozenset({
    "os", "sys", "subprocess", "socket", "sqlite3", "shutil", "pathlib", "io", "tempfile",
    "ctypes", "multiprocessing", "threading", "concurrent", "asyncio", "importlib", "runpy",
    "urllib", "http", "ftplib", "smtplib", "ssl", "webbrowser", "signal", "pty", "glob",
    "builtins", "code", "pickle", "shelve", "dbm", "mmap", "select", "selectors",
})
#: Names whose mere use disqualifies a module from being executed.
_UNSAFE_NAMES = frozenset({
    "open", "exec", "eval", "compile", "__import__", "breakpoint", "input", "globals",
    "create_engine", "create_async_engine", "engine_from_config", "connect", "raw_connection",
})


@dataclass(frozen=True)
class Rendering:
    """The statements one render emitted, each with its line in the revision."""

    dialect: str
    statements: tuple[tuple[str, int], ...]
    #: Why rendering stopped early or did not run (None: it completed).
    error: str | None


def render_findings(tree: ast.Module, path: str, direction: str, dialect: str | None) -> FindingSet:
    """Findings from the SQL a revision emits offline, for ``dialect`` or each
    supported dialect when None. Empty when the module is not safe to execute."""
    found = FindingSet()
    traits = scan(tree)
    if traits.unsafe_reason is not None:
        return found
    for name in traits.dialects_to_render(dialect):
        rendering = render(tree, path, direction, name)
        schema = SchemaState()  # each render replays the revision from the start
        for sql, line in rendering.statements:
            for effect in classify_sql(sql, sqlglot_name(name), schema):
                found.add(effect.code, effect.message, line)
    return found


@dataclass(frozen=True)
class ModuleTraits:
    """What rendering needs to know about a module before executing it."""

    #: Why the module must not be executed, or None when it may be.
    unsafe_reason: str | None
    #: True when the module can find out which dialect it runs on.
    looks_at_dialect: bool

    def dialects_to_render(self, dialect: str | None) -> tuple[str, ...]:
        """The dialect given, else each supported one if the module can tell them apart.

        A module that never looks at the dialect emits the same operations for
        every dialect, and PostgreSQL renders all of them (SQLite's offline batch
        mode cannot), so one render is enough.
        """
        if dialect:
            return (dialect,)
        return RENDER_WITHOUT_DIALECT if self.looks_at_dialect else (RENDER_DIALECT_BLIND,)


#: Names through which a revision can find out which dialect it runs on.
_DIALECT_PROBES = frozenset({"dialect", "get_context", "context", "migration_context", "engine"})


def scan(tree: ast.Module) -> ModuleTraits:
    """One pass over the module for :class:`ModuleTraits`."""
    unsafe, looks = None, False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            unsafe = unsafe or next((f"imports {a.name}" for a in node.names if not _importable(a.name)), None)
        elif isinstance(node, ast.ImportFrom):
            if node.level or not _importable(node.module or ""):
                unsafe = unsafe or f"imports from {'.' * node.level}{node.module or ''}"
        elif isinstance(node, ast.Name):
            looks = looks or node.id in _DIALECT_PROBES
            if node.id in _UNSAFE_NAMES:
                unsafe = unsafe or f"uses {node.id}"
        elif isinstance(node, ast.Attribute):
            looks = looks or node.attr in _DIALECT_PROBES
            if node.attr in _UNSAFE_NAMES:
                unsafe = unsafe or f"uses .{node.attr}"
    return ModuleTraits(unsafe, looks)


def unsafe_reason(tree: ast.Module) -> str | None:
    """Why the module must not be executed for rendering, or None when it may be."""
    return scan(tree).unsafe_reason


def _importable(module: str) -> bool:
    root = module.split(".", 1)[0]
    if root in _RENDERABLE_PACKAGES:
        return True
    return root in sys.stdlib_module_names and root not in _UNSAFE_STDLIB


def render(tree: ast.Module, path: str, direction: str, dialect: str) -> Rendering:
    """Execute the module and call ``direction`` against an offline context for ``dialect``.

    The caller is responsible for having checked :func:`unsafe_reason`.
    """
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    namespace: dict = {"__name__": "safeguard_render", "__file__": path}
    with _quiet():
        try:
            exec(_compile(tree, path), namespace)  # noqa: S102 - the point of rendering
        except BaseException as exc:  # noqa: BLE001 - any failure just means "not rendered"
            return Rendering(dialect, (), _describe("import", exc))
        function = namespace.get(direction)
        if not callable(function) or not hasattr(function, "__code__"):
            return Rendering(dialect, (), f"no {direction}() function")
        capture = _StatementCapture(path, function.__code__)
        try:
            context = MigrationContext.configure(
                dialect_name=dialect,
                opts={"as_sql": True, "output_buffer": capture, "literal_binds": True},
            )
        except Exception as exc:  # noqa: BLE001 - unknown dialect and the like
            return Rendering(dialect, (), _describe("configure", exc))
        _substitute_proxies(namespace, Operations(context), context)
        try:
            function()
        except BaseException as exc:  # noqa: BLE001
            return Rendering(dialect, tuple(capture.statements), _describe(direction, exc))
    return Rendering(dialect, tuple(capture.statements), None)


def _compile(tree: ast.Module, path: str) -> CodeType:
    return compile(tree, path, "exec", dont_inherit=True)


def _describe(stage: str, exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        raise exc
    return f"{stage} failed: {type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _quiet():
    # A revision printing at import time must not corrupt `lint --json` output.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _substitute_proxies(namespace: dict, operations, migration_context) -> None:
    """Point the module's ``op`` (and ``context``) at the offline objects.

    Only the module's own names change; the global ``alembic.op`` proxy is left
    alone, so a migration running elsewhere in the process is unaffected.
    """
    import alembic.context
    import alembic.op

    environment = _OfflineEnvironment(operations, migration_context)
    for name, value in list(namespace.items()):
        if value is alembic.op:
            namespace[name] = operations
        elif value is alembic.context:
            namespace[name] = environment


class _OfflineEnvironment:
    """Stands in for ``alembic.context`` inside a rendered revision."""

    def __init__(self, operations, migration_context) -> None:
        self._operations = operations
        self._context = migration_context
        self.config = None

    def get_context(self):
        return self._context

    def get_bind(self):
        return self._context.bind

    def is_offline_mode(self) -> bool:
        return True

    def execute(self, sql, execution_options=None):
        self._operations.execute(sql, execution_options=execution_options)


class _StatementCapture:
    """Alembic's output buffer: keeps each statement with the revision line that
    emitted it (the line in the entry function, so helpers report their call site)."""

    def __init__(self, path: str, entry: CodeType) -> None:
        self._path = path
        self._entry = entry
        self.statements: list[tuple[str, int]] = []

    def write(self, text: str) -> None:
        text = text.strip()
        if text:
            self.statements.append((text, self._line()))

    def flush(self) -> None:
        """Nothing is buffered."""

    def _line(self) -> int:
        frame = sys._getframe(2)
        innermost = None
        while frame is not None:
            if frame.f_code is self._entry:
                return frame.f_lineno
            if innermost is None and frame.f_code.co_filename == self._path:
                innermost = frame.f_lineno
            frame = frame.f_back
        return innermost or 1
