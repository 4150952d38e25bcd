"""Python builtins as the static analysis sees them.

Most only pass run-time-ness through (``sorted(inspector.get_table_names())`` is
still the live catalog). ``getattr`` on ``op`` is where operations get picked at
run time; ``exec``/``eval`` hide code entirely.
"""

from __future__ import annotations

import ast
import re

from . import effects as fx
from .effects import RUNTIME_NAME
from .frames import Args, Evaluator, Situation
from .values import (
    OP,
    UNKNOWN,
    BatchOps,
    BuiltString,
    Const,
    External,
    Handle,
    Library,
    LocalFunction,
    OpMethod,
    RuntimeData,
    Seq,
    Value,
    choice,
    is_runtime,
    iterate,
    options,
    runtime_source,
    strings,
)

#: Builtins that return (an iterable over) their first argument's items.
_PASS_ITEMS = frozenset({"sorted", "list", "tuple", "set", "frozenset", "reversed", "iter"})
_HIDDEN_CODE = frozenset({"exec", "eval", "compile", "__import__"})


def call(interp: Evaluator, name: str, args: Args, node: ast.Call, sit: Situation) -> Value:
    """The value of calling builtin ``name``."""
    first = args.positional[0] if args.positional else UNKNOWN
    if name in _PASS_ITEMS:
        return first if args.positional else Const([])
    if name == "getattr" and len(args.positional) >= 2:
        literal = len(args.positional_nodes) >= 2 and isinstance(args.positional_nodes[1], ast.Constant)
        return _getattr(interp, first, args.positional[1], literal)
    if name == "setattr" and len(args.positional) >= 2:
        for attr in strings(args.positional[1]) or []:
            interp.set_attribute(first, attr, node, sit)
        return Const(None)
    if name in _HIDDEN_CODE:
        interp.emit(fx.unanalysable(f"runs code built at run time with {name}()"), node, sit)
        return UNKNOWN
    if name == "map" and len(args.positional) >= 2:
        return _map(interp, args, node, sit)
    if name == "filter" and len(args.positional) >= 2:
        return args.positional[1]
    if name == "enumerate":
        return _rows(first, lambda item: Seq((UNKNOWN, item)))
    if name == "zip":
        return _zip(args.positional)
    if name == "globals":
        return MODULE_NAMESPACE
    if name == "str" and isinstance(first, Const):
        return Const(str(first.value))
    interp.invoke_passed_callables(args, node, sit)
    runtime = [v for v in args.values() if is_runtime(v)]
    return RuntimeData(runtime_source(runtime[0]) or "query results") if runtime else UNKNOWN


#: ``globals()``: the revision's module namespace, indexed by (possibly built) names.
MODULE_NAMESPACE = Handle("globals")


def module_lookup(interp: Evaluator, key: Value) -> Value:
    """``globals()[key]``: the module-level names ``key`` can be.

    Alembic's multidb template calls ``globals()["upgrade_%s" % engine_name]()``;
    a name built at run time matches every module name of that shape.
    """
    if isinstance(key, BuiltString):
        pattern = re.compile(".*".join(re.escape(part) for part in key.template.split(RUNTIME_NAME)))
        found = [v for n, v in interp.module.names.items() if pattern.fullmatch(n)]
        return choice(found) if found else UNKNOWN
    names = strings(key) or []
    return choice([interp.module.names.get(n, UNKNOWN) for n in names]) if names else UNKNOWN


def _getattr(interp: Evaluator, obj: Value, name: Value, literal: bool) -> Value:
    picked: list[Value] = []
    for target in options(obj):
        if target == OP or isinstance(target, BatchOps):
            picked.append(_op_method(interp, target, name, literal))
        elif isinstance(target, (Library, External)) and isinstance(name, Const) and isinstance(name.value, str):
            picked.append(interp.attribute(target, name.value))
        elif is_runtime(target) or is_runtime(name):
            picked.append(RuntimeData(runtime_source(target) or runtime_source(name) or "query results"))
    return picked[0] if len(picked) == 1 else UNKNOWN


def _op_method(interp: Evaluator, receiver: Value, name: Value, literal: bool) -> OpMethod:
    if literal and isinstance(name, Const) and isinstance(name.value, str):
        return OpMethod(receiver, (name.value,))  # getattr(op, "drop_table"): nothing dynamic
    # A name from a variable is picked at run time even when the analysis can
    # tell which one it will be (a loop over a constant plan).
    names = strings(name)
    # Unresolvable: any op method the module spells out may be the one.
    candidates = names if names is not None else list(interp.op_method_strings)
    return OpMethod(receiver, tuple(dict.fromkeys(candidates)), dynamic=True)


def _map(interp: Evaluator, args: Args, node: ast.Call, sit: Situation) -> Value:
    function, items = args.positional[0], [iterate(v) for v in args.positional[1:]]
    forwarded = Args(items, {}, [], {})
    results = []
    for option in options(function):
        if isinstance(option, (LocalFunction, OpMethod)):
            results.append(interp.call_value(option, forwarded, node, sit))
    return Seq(tuple(results)) if results else UNKNOWN


def _rows(value: Value, make) -> Value:
    if is_runtime(value):
        return RuntimeData(runtime_source(value) or "query results")
    return Seq((make(iterate(value)),))


def _zip(values: list[Value]) -> Value:
    runtime = [v for v in values if is_runtime(v)]
    if runtime:
        return RuntimeData(runtime_source(runtime[0]) or "query results")
    return Seq((Seq(tuple(iterate(v) for v in values)),))
