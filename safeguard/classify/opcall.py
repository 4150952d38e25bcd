"""One operation call with its arguments bound to the operation's parameter names.

Alembic's own operations are bound with the installed Alembic's method signatures
(alembic_ops.py); the operations plugins register on Alembic's ``Operations`` are
bound with the signature each plugin model states (plugins/). Either way a handler
reads ``c.value("table_name")`` whatever spelling the revision used.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from .effects import Effect
from .frames import Args, Evaluator, Situation
from .state import SchemaState
from .values import BatchOps, Const, Value


@dataclass
class OpCall:
    """One op call with its arguments bound to the operation's parameter names."""

    interp: Evaluator
    name: str
    values: dict[str, Value]
    nodes: dict[str, object]
    node: ast.Call
    sit: Situation

    def value(self, param: str) -> Value | None:
        """The value passed for ``param`` (also when it landed in ``**kw``), or None."""
        if param in self.values:
            return self.values[param]
        extra = self.values.get("kw")
        return extra.get(param) if isinstance(extra, dict) else None

    def source_of(self, param: str) -> ast.expr | None:
        """The source expression passed for ``param``, or None."""
        found = self.nodes.get(param)
        return found if isinstance(found, ast.expr) else None

    def given(self, param: str) -> bool:
        """True when ``param`` was passed and is not None."""
        value = self.value(param)
        return value is not None and value != Const(None)

    def text(self, param: str, what: str = "table") -> str | None:
        """A table/column name argument as display text (UN101 if read at run time)."""
        value = self.value(param)
        return self.interp.name(value, self.node, self.sit, what) if value is not None else None

    def emit(self, effect: Effect) -> None:
        """Record ``effect`` for this call."""
        self.interp.emit(effect, self.node, self.sit)

    @property
    def schema(self) -> SchemaState:
        """What the revision has created so far."""
        return self.interp.recorder.schema

    @property
    def line(self) -> int:
        """The line findings of this call are reported at."""
        return self.sit.line or self.node.lineno


def bind_arguments(signature: inspect.Signature, args: Args) -> dict[str, Value] | None:
    """``args`` bound to ``signature`` (whose first parameter is the operations object
    or ``self``, passed as None), or None when they do not fit it.

    With a ``*spread`` (``op.create_table("t", *columns())``) what precedes it still
    binds, and the call is readable if every required parameter is among it.
    """
    try:
        if args.starred:
            values = signature.bind_partial(None, *args.positional, **args.keywords).arguments
            if not _required(signature) <= set(values):
                return None
        else:
            values = signature.bind(None, *args.positional, **args.keywords).arguments
    except TypeError:
        return None
    return dict(values)


def bind(interp: Evaluator, receiver: Value, signature: inspect.Signature, name: str,
         args: Args, node: ast.Call, sit: Situation) -> OpCall | None:
    """``receiver.name(*args)`` bound to ``signature``; None when the arguments do not fit.
    A ``batch_op`` call gets the batch's table as ``table_name``."""
    values = bind_arguments(signature, args)
    if values is None:
        return None
    try:
        nodes = signature.bind_partial(None, *args.positional_nodes, **args.keyword_nodes).arguments
    except TypeError:
        nodes = {}  # arguments forwarded without source (map(op.drop_table, ...))
    if isinstance(receiver, BatchOps):
        values.setdefault("table_name", receiver.table)
    return OpCall(interp, name, values, dict(nodes), node, sit)


def _required(signature: inspect.Signature) -> set[str]:
    return {
        p.name for p in list(signature.parameters.values())[1:]
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


@dataclass(frozen=True)
class OpModel:
    """What an operation a plugin registers on Alembic's ``Operations`` does.

    The model states the plugin's signature (so arguments bind as the plugin binds
    them) and either a handler of its own or ``same_as``, the Alembic operation whose
    handler applies (GeoAlchemy2's ``add_geospatial_column`` is ``add_column``).
    """

    #: The distribution that registers the operation, for messages.
    plugin: str
    #: The operation's parameters, the operations object first.
    signature: inspect.Signature
    handler: Callable[[OpCall], Value | None] | None = None
    same_as: str | None = None
    #: What the operation does when its arguments cannot be read.
    generic: Callable[[], Effect] | None = None
    #: The ``batch_op.<name>`` form's parameters, when the plugin registers one.
    batch_signature: inspect.Signature | None = None


def signature_of(stub: Callable[..., object]) -> inspect.Signature:
    """The signature of a stub written to mirror a plugin's (see plugins/)."""
    return inspect.signature(stub)
