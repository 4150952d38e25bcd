"""The frame types the interpreter and its handler modules share.

The handlers (:mod:`.alembic_ops`, :mod:`.sqlalchemy_api`, :mod:`.pybuiltins`,
:mod:`.execution`) are called by the interpreter and call back into it; they name it
through :class:`Evaluator`, defined here, so none of them imports the interpreter.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from typing import Protocol

from .effects import Effect
from .recorder import Recorder
from .values import LocalFunction, Value, choice


@dataclass(frozen=True)
class Situation:
    """How the code being walked is reached from the entry function."""

    #: The entry-function line effects are reported at (set when inside a helper).
    line: int | None = None
    #: Helper names on the way, for messages.
    via: tuple[str, ...] = ()
    #: Why this code runs only if data read at run time says so (None: always runs).
    runtime_reason: str | None = None

    def under_runtime(self, reason: str) -> "Situation":
        """The same situation, but conditional on run-time data."""
        return self if self.runtime_reason else replace(self, runtime_reason=reason)


@dataclass
class Scope:
    """Names visible in one function activation (or the module)."""

    names: dict[str, Value]
    parent: "Scope | None" = None
    returns: list[Value] = field(default_factory=list)

    def lookup(self, name: str) -> Value | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def fork(self) -> "Scope":
        """A copy for one arm of a branch (returns are shared)."""
        return Scope(dict(self.names), self.parent, self.returns)

    def join(self, arms: list["Scope"]) -> None:
        """After a branch: each name may hold what any arm left in it."""
        merged: dict[str, Value] = {}
        for name in {n for arm in arms for n in arm.names}:
            merged[name] = choice([arm.names[name] for arm in arms if name in arm.names])
        self.names = merged


@dataclass
class Args:
    """Evaluated call arguments, with their nodes (types are read from source)."""

    positional: list[Value]
    keywords: dict[str, Value]
    positional_nodes: list[ast.expr]
    keyword_nodes: dict[str, ast.expr]
    #: ``*args`` or ``**kwargs`` present: ``positional`` then holds only the
    #: arguments before the first ``*``, and what the rest bind to is unknown.
    starred: bool = False

    def values(self) -> list[Value]:
        return [*self.positional, *self.keywords.values()]


class Evaluator(Protocol):
    """What the handler modules call back into (implemented by ``Interpreter``)."""

    recorder: Recorder
    #: The target as a sqlglot dialect name (None: any).
    sql_dialect: str | None
    module: Scope

    @property
    def op_method_strings(self) -> tuple[str, ...]: ...

    def emit(self, effect: Effect, node: ast.AST, sit: Situation) -> None: ...

    def name(self, value: Value, node: ast.AST, sit: Situation, what: str = "table") -> str | None: ...

    def eval(self, node: ast.expr | None, scope: Scope, sit: Situation) -> Value: ...

    def attribute(self, base: Value, attr: str) -> Value: ...

    def set_attribute(self, obj: Value, attr: str, node: ast.AST, sit: Situation) -> None: ...

    def call_value(self, callee: Value, args: Args, node: ast.Call, sit: Situation,
                   discarded: bool = False) -> Value: ...

    def call_local(self, fn: LocalFunction, args: Args, node: ast.Call | None, sit: Situation) -> Value: ...

    def invoke_passed_callables(self, args: Args, node: ast.Call, sit: Situation) -> None: ...
