"""How strings are built, so SQL assembled at run time is recognised as such.

A string the analysis knows exactly stays a :class:`Const`. Anything interpolated
into it (f-string fields, ``.format()``, ``%``, ``+`` with a non-constant) makes a
:class:`BuiltString`: the executed SQL then depends on run time (UN101), but its
literal parts are still classified, with the run-time parts replaced by a
placeholder identifier.
"""

from __future__ import annotations

import itertools
import re
import string

from .effects import RUNTIME_NAME
from .values import (
    UNKNOWN,
    BuiltString,
    Const,
    Seq,
    Value,
    is_runtime,
    options,
    strings,
)

#: Beyond this many combinations the exact variants are not worth listing.
_MAX_VARIANTS = 16
#: printf-style conversion specifiers, as Python's ``%`` operator reads them.
_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")


def _pieces(value: Value) -> tuple[str, list[str] | None]:
    """Template text and exact variants of one part of a built string."""
    if isinstance(value, Const) and isinstance(value.value, str):
        return value.value, [value.value]
    if isinstance(value, BuiltString):
        return value.template, list(value.variants) or None
    known = strings(value) if not is_runtime(value) else None
    if known is None:
        consts = [o.value for o in options(value) if isinstance(o, Const)]
        if consts and len(consts) == len(options(value)):
            known = [str(c) for c in consts]
    return RUNTIME_NAME, known


def build(parts: list[Value], how: str) -> Value:
    """Concatenate ``parts``; a BuiltString unless every part is a literal Const str."""
    if all(isinstance(p, Const) and isinstance(p.value, str) for p in parts):
        return Const("".join(p.value for p in parts))  # type: ignore[attr-defined]  # all() above: Consts
    templates, variant_lists = zip(*(_pieces(p) for p in parts)) if parts else ((), ())
    return BuiltString("".join(templates), how, _variants(list(variant_lists)))


def interpolated(literals: list[str], fields: list[Value], how: str) -> Value:
    """A string with run-time ``fields`` between ``literals`` (len(literals) == len(fields) + 1).

    Interpolation makes a BuiltString even when every field is a known constant:
    the policy is that SQL assembled by formatting is built at run time.
    """
    if not fields:
        return Const("".join(literals))
    parts: list[Value] = []
    for literal, field in zip(literals, fields):
        parts += [Const(literal), field]
    parts.append(Const(literals[-1]))
    templates, variant_lists = zip(*(_pieces(p) for p in parts))
    return BuiltString("".join(templates), how, _variants(list(variant_lists)))


def _variants(variant_lists: list[list[str] | None]) -> tuple[str, ...]:
    if any(v is None for v in variant_lists):
        return ()
    count = 1
    for v in variant_lists:
        count *= len(v)  # type: ignore[arg-type]
    if count > _MAX_VARIANTS:
        return ()
    return tuple("".join(combo) for combo in itertools.product(*variant_lists))  # type: ignore[arg-type]


def format_call(template: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """``template.format(*args, **kwargs)``."""
    literals: list[str] = []
    fields: list[Value] = []
    auto = 0
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return BuiltString(template, ".format()")
    pending = ""
    for literal, field_name, _spec, _conv in parsed:
        pending += literal
        if field_name is None:
            continue
        literals.append(pending)
        pending = ""
        fields.append(_format_field(field_name, args, kwargs, auto))
        if field_name == "" or field_name.isdigit():
            auto += 1
    literals.append(pending)
    return interpolated(literals, fields, ".format()")


def _format_field(name: str, args: list[Value], kwargs: dict[str, Value], auto: int) -> Value:
    head = re.split(r"[.\[]", name, maxsplit=1)[0]
    if head == "":
        return args[auto] if auto < len(args) else UNKNOWN
    if head.isdigit():
        index = int(head)
        return args[index] if index < len(args) else UNKNOWN
    return kwargs.get(head, UNKNOWN)


def percent(template: str, operand: Value) -> Value:
    """``template % operand``."""
    fields = [m for m in _PERCENT_FIELD.finditer(template) if m.group() != "%%"]
    if not fields:
        return Const(template.replace("%%", "%"))
    items = _percent_items(operand, len(fields))
    literals, start = [], 0
    for match in fields:
        literals.append(template[start : match.start()].replace("%%", "%"))
        start = match.end()
    literals.append(template[start:].replace("%%", "%"))
    return interpolated(literals, items, "% formatting")


def _percent_items(operand: Value, count: int) -> list[Value]:
    if isinstance(operand, Const) and isinstance(operand.value, tuple):
        items: list[Value] = [Const(v) for v in operand.value]
    elif isinstance(operand, Seq):
        items = list(operand.items)
    else:
        items = [operand]
    return (items + [UNKNOWN] * count)[:count]


def join_call(separator: str, items: Value) -> Value:
    """``separator.join(items)``."""
    if isinstance(items, Const) and isinstance(items.value, (list, tuple)):
        if all(isinstance(i, str) for i in items.value):
            return Const(separator.join(items.value))
    if isinstance(items, Seq) and items.exact:
        parts: list[Value] = []
        for i, item in enumerate(items.items):
            if i:
                parts.append(Const(separator))
            parts.append(item)
        return build(parts, "str.join")
    return BuiltString(RUNTIME_NAME, "str.join")


#: str methods that return a string the analysis can compute from constants.
_PURE_METHODS = frozenset({
    "upper", "lower", "strip", "lstrip", "rstrip", "replace", "title", "capitalize",
    "casefold", "removeprefix", "removesuffix", "expandtabs",
})


def str_method(receiver: Value, name: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """A method called on a string value."""
    if isinstance(receiver, BuiltString):
        # The shape of the SQL survives case and whitespace changes.
        return receiver if name in _PURE_METHODS else UNKNOWN
    text = receiver.value  # type: ignore[attr-defined]
    if name == "format":
        return format_call(text, args, kwargs)
    if name == "join" and len(args) == 1:
        return join_call(text, args[0])
    if name in _PURE_METHODS and all(isinstance(a, Const) for a in args) and not kwargs:
        try:
            return Const(getattr(text, name)(*(a.value for a in args)))  # type: ignore[attr-defined]  # all Consts
        except (TypeError, ValueError):
            return UNKNOWN
    return UNKNOWN
