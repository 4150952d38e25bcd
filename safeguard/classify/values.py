"""Abstract values: what the static analysis knows about a Python expression.

The analysis never runs the revision; it evaluates expressions to these values
instead. A value records just enough to decide what an operation does to data:
which string a SQL statement is, which table a ``sa.table(...)`` names, that a
list of table names came from the live catalog, that an object is ``op`` or a
connection or an ORM instance loaded from the database.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


class Value:
    """Base of all abstract values."""


@dataclass(frozen=True)
class Unknown(Value):
    """Nothing useful is known."""


UNKNOWN = Unknown()


@dataclass(frozen=True)
class Const(Value):
    """A Python literal (or a tuple/list/dict of them) known exactly."""

    value: object


@dataclass(frozen=True)
class Choice(Value):
    """One of several values (a loop variable, either arm of a conditional)."""

    options: tuple[Value, ...]


@dataclass(frozen=True)
class Seq(Value):
    """A list or tuple whose items are not all constants.

    ``exact`` is False for a comprehension: its one item stands for every
    element, and how many there are is not known.
    """

    items: tuple[Value, ...]
    exact: bool = True


@dataclass(frozen=True)
class RuntimeData(Value):
    """Something read from the database at run time: query results, the catalog.

    ``entity`` is set when the rows are ORM instances of a mapped table, so that
    iterating them yields :class:`OrmInstance` values.
    """

    source: str
    entity: Value | None = None


@dataclass(frozen=True)
class BuiltString(Value):
    """A string assembled at run time (f-string, ``.format()``, ``%``, ``+``).

    ``template`` has :data:`~safeguard.classify.effects.RUNTIME_NAME` where the
    run-time parts go; ``variants`` are the complete strings when every run-time
    part is one of a few known constants (a loop over a constant list).
    """

    template: str
    how: str
    variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class SqlText(Value):
    """``sa.text(...)`` / ``sa.DDL(...)`` around a string value."""

    sql: Value


@dataclass(frozen=True)
class TableRef(Value):
    """A Core table (``sa.table``, ``sa.Table``, the result of ``op.create_table``)."""

    name: Value


@dataclass(frozen=True)
class CoreStatement(Value):
    """A Core statement object: ``kind`` is update, delete, insert, upsert, select,
    drop_table, drop_schema..."""

    kind: str
    table: Value


@dataclass(frozen=True)
class ColumnSpec(Value):
    """``sa.Column(...)`` as written: what the NOT NULL and rename rules need."""

    name: Value
    type_key: str | None
    type_text: str | None
    nullable: Value
    has_server_default: bool
    primary_key: bool


@dataclass(frozen=True)
class Handle(Value):
    """An object of a known role: ``op``, ``bind``, ``session``, ``inspector``,
    ``context``, ``dialect``, ``dialect_name``, ``session_factory``."""

    role: str


OP = Handle("op")
BIND = Handle("bind")
SESSION = Handle("session")


@dataclass(frozen=True)
class BatchOps(Value):
    """``batch_op`` inside ``with op.batch_alter_table(table) as batch_op``."""

    table: Value


@dataclass(frozen=True)
class OpMethod(Value):
    """``op.drop_table`` (or a batch method) referenced without calling it, or
    several candidate methods when picked with ``getattr(op, name)``."""

    receiver: Value
    names: tuple[str, ...]
    #: True when the method was chosen at run time (getattr with a non-literal).
    dynamic: bool = False


@dataclass(frozen=True)
class Query(Value):
    """``session.query(Entity)...``: a not-yet-executed ORM query."""

    entity_table: Value


@dataclass(frozen=True)
class OrmEntity(Value):
    """A mapped class defined in the revision (``__tablename__ = "x"``)."""

    table: Value


@dataclass(frozen=True)
class OrmInstance(Value):
    """An instance of a mapped class; ``persistent`` when loaded from the database
    (setting its attributes then updates existing rows)."""

    table: Value
    persistent: bool


@dataclass(frozen=True)
class Library(Value):
    """A name from alembic, SQLAlchemy, SQLModel or the standard library, by dotted path."""

    dotted: str

    @property
    def leaf(self) -> str:
        """The last component of the dotted path."""
        return self.dotted.rsplit(".", 1)[-1]

    @property
    def root(self) -> str:
        """The top-level package."""
        return self.dotted.split(".", 1)[0]


@dataclass(frozen=True)
class External(Value):
    """A name imported from any other module (the application's own code)."""

    dotted: str


@dataclass(frozen=True)
class PluginObject(Value):
    """An object built by a modelled plugin (an alembic_utils entity, an
    alembic-postgresql-enum TableReference): ``kind`` names its class, ``fields``
    hold the arguments it was built with, by parameter name."""

    kind: str
    fields: tuple[tuple[str, Value], ...] = ()

    def field(self, name: str) -> Value | None:
        """The value given for ``name``, or None."""
        return dict(self.fields).get(name)


@dataclass(frozen=True)
class SchemaStatement(Value):
    """An executable object a modelled plugin ships whose statements only create or
    replace schema objects (``sqlalchemy_searchable.sql_expressions``): executing
    it changes no rows. ``what`` describes it for messages."""

    what: str


@dataclass(frozen=True, eq=False)
class LocalFunction(Value):
    """A function defined in the revision file."""

    node: ast.FunctionDef | ast.AsyncFunctionDef
    #: The interpreter scope it was defined in (its closure); None for module level.
    scope: object = None


@dataclass(frozen=True, eq=False)
class LocalClass(Value):
    """A class defined in the revision file that is not a mapped entity."""

    node: ast.ClassDef


def options(value: Value) -> tuple[Value, ...]:
    """The alternatives a value stands for (itself, unless it is a Choice)."""
    if isinstance(value, Choice):
        return tuple(o for opt in value.options for o in options(opt))
    return (value,)


def choice(values: list[Value] | tuple[Value, ...]) -> Value:
    """A value standing for any of ``values`` (flattened, duplicates removed)."""
    flat: list[Value] = []
    for value in values:
        for opt in options(value):
            if opt not in flat:
                flat.append(opt)
    if not flat:
        return UNKNOWN
    return flat[0] if len(flat) == 1 else Choice(tuple(flat))


def is_runtime(value: Value) -> bool:
    """True when any alternative of ``value`` was read from the database."""
    return any(isinstance(v, RuntimeData) for v in options(value))


def runtime_source(value: Value) -> str | None:
    """Where a run-time value came from, for messages."""
    for opt in options(value):
        if isinstance(opt, RuntimeData):
            return opt.source
    return None


def strings(value: Value) -> list[str] | None:
    """The exact strings a value can be, or None when any alternative is not a known string."""
    found: list[str] = []
    for opt in options(value):
        if isinstance(opt, Const) and isinstance(opt.value, str):
            found.append(opt.value)
        else:
            return None
    return found


def iterate(value: Value) -> Value:
    """What a ``for`` loop variable over ``value`` can be."""
    items: list[Value] = []
    for opt in options(value):
        if isinstance(opt, Const) and isinstance(opt.value, (list, tuple, set, frozenset)):
            items.extend(Const(v) for v in opt.value)
        elif isinstance(opt, Const) and isinstance(opt.value, dict):
            items.extend(Const(k) for k in opt.value)
        elif isinstance(opt, Seq):
            items.extend(opt.items)
        elif isinstance(opt, RuntimeData):
            items.append(OrmInstance(opt.entity, True) if opt.entity is not None else opt)
        elif isinstance(opt, Query):
            items.append(OrmInstance(opt.entity_table, True))
        else:
            items.append(UNKNOWN)
    return choice(items)


def unpack(value: Value, count: int) -> list[Value]:
    """Element-wise values for ``a, b, c = value`` (or a loop target tuple)."""
    columns: list[list[Value]] = [[] for _ in range(count)]
    for opt in options(value):
        items: tuple | None = None
        if isinstance(opt, Const) and isinstance(opt.value, (list, tuple)) and len(opt.value) == count:
            items = tuple(Const(v) for v in opt.value)
        elif isinstance(opt, Seq) and len(opt.items) == count:
            items = opt.items
        for i in range(count):
            if items is not None:
                columns[i].append(items[i])
            elif isinstance(opt, RuntimeData):
                columns[i].append(RuntimeData(opt.source))
            else:
                columns[i].append(UNKNOWN)
    return [choice(col) for col in columns]
