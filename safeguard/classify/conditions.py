"""Conditions the target dialect settles, for pruning dialect-conditional branches.

Only comparisons of the dialect name with string literals are settled, and only
when a dialect was given: ``bind.dialect.name == "postgresql"``,
``... in ("postgresql", "mysql")``, ``.startswith("postgres")``. Any other test
keeps both branches (with no dialect, every branch counts).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from .values import (
    UNKNOWN,
    Const,
    Handle,
    RuntimeData,
    Value,
    is_runtime,
    runtime_source,
)

DIALECT_NAME = Handle("dialect_name")


@dataclass(frozen=True)
class Decided(Value):
    """A condition whose truth the target dialect settles."""

    truth: bool


def compare(left: Value, op: ast.cmpop, right: Value, dialect: str | None) -> Value:
    """The value of ``left <op> right``."""
    for value in (left, right):
        if is_runtime(value):
            return RuntimeData(runtime_source(value) or "query results")
    if dialect is None:
        return UNKNOWN
    if left == DIALECT_NAME and isinstance(right, Const):
        return _settle(dialect, op, right.value)
    if right == DIALECT_NAME and isinstance(left, Const) and isinstance(op, (ast.Eq, ast.NotEq)):
        return _settle(dialect, op, left.value)
    return UNKNOWN


def _settle(dialect: str, op: ast.cmpop, literal: object) -> Value:
    if isinstance(op, (ast.Eq, ast.NotEq)) and isinstance(literal, str):
        return Decided((dialect == literal) == isinstance(op, ast.Eq))
    if isinstance(op, (ast.In, ast.NotIn)) and isinstance(literal, (tuple, list, set, frozenset)):
        if all(isinstance(x, str) for x in literal):
            return Decided((dialect in literal) == isinstance(op, ast.In))
    return UNKNOWN


def dialect_name_method(name: str, args: list[Value], dialect: str | None) -> Value:
    """``dialect.name.startswith("postgres")`` and friends."""
    if name in {"lower", "casefold", "strip"}:
        return DIALECT_NAME
    if dialect is not None and name in {"startswith", "endswith"} and len(args) == 1:
        arg = args[0]
        if isinstance(arg, Const) and isinstance(arg.value, (str, tuple)):
            return Decided(getattr(dialect, name)(arg.value))
    return UNKNOWN


def negate(value: Value) -> Value:
    """``not value``."""
    if isinstance(value, Decided):
        return Decided(not value.truth)
    return value if is_runtime(value) else UNKNOWN


def combine(is_and: bool, values: list[Value]) -> Value:
    """``a and b`` / ``a or b`` with three-valued logic: a settled operand can
    settle the whole (False for ``and``, True for ``or``)."""
    for value in values:
        if isinstance(value, Decided) and value.truth is not is_and:
            return value
    if all(isinstance(v, Decided) for v in values):
        return Decided(is_and)
    for value in values:
        if is_runtime(value):
            return RuntimeData(runtime_source(value) or "query results")
    return UNKNOWN
