"""Comparable keys for SQLAlchemy column types written in revision source.

Autogenerate spells the same type differently in upgrade() and downgrade()
(``sa.String(length=40)`` beside ``sa.VARCHAR(length=40)``), so types are compared
through a normalised key rather than as text.
"""

from __future__ import annotations

import ast

#: Generic SQLAlchemy type names and their SQL spellings, mapped to one family name.
_FAMILIES = {
    "STRING": "VARCHAR", "VARCHAR": "VARCHAR", "UNICODE": "VARCHAR", "NVARCHAR": "VARCHAR",
    "CHAR": "CHAR", "NCHAR": "CHAR",
    "TEXT": "TEXT", "UNICODETEXT": "TEXT", "CLOB": "TEXT",
    "INTEGER": "INTEGER", "INT": "INTEGER",
    "BIGINTEGER": "BIGINT", "BIGINT": "BIGINT",
    "SMALLINTEGER": "SMALLINT", "SMALLINT": "SMALLINT",
    "BOOLEAN": "BOOLEAN", "BOOL": "BOOLEAN",
    "DATETIME": "DATETIME", "TIMESTAMP": "DATETIME",
    "DATE": "DATE", "TIME": "TIME", "INTERVAL": "INTERVAL",
    "NUMERIC": "NUMERIC", "DECIMAL": "NUMERIC",
    "FLOAT": "FLOAT", "REAL": "FLOAT", "DOUBLE": "FLOAT", "DOUBLE_PRECISION": "FLOAT",
    "LARGEBINARY": "BLOB", "BLOB": "BLOB", "BYTEA": "BLOB",
    "JSON": "JSON", "JSONB": "JSONB", "UUID": "UUID", "UUIDTYPE": "UUID",
}
#: Keyword arguments that are really the positional size arguments.
_SIZE_KEYWORDS = ("length", "precision", "scale")


def type_key(node: ast.expr | None) -> str | None:
    """A normalised key such as ``VARCHAR(40)`` for a type expression, or None."""
    if node is None:
        return None
    call = node if isinstance(node, ast.Call) else None
    name = _leaf_name(call.func if call else node)
    if name is None:
        return None
    family = _FAMILIES.get(name.upper(), name.upper())
    if call is None:
        return family
    sizes = [_literal_text(a) for a in call.args]
    keywords = {k.arg: _literal_text(k.value) for k in call.keywords if k.arg}
    sizes += [keywords.pop(k) for k in _SIZE_KEYWORDS if k in keywords]
    extras = [f"{k}={v}" for k, v in sorted(keywords.items())]
    inside = ",".join(s for s in sizes + extras if s is not None)
    return f"{family}({inside})" if inside else family


def type_text(node: ast.expr | None) -> str | None:
    """The type as written, without the ``sa.`` module prefix, for messages."""
    if node is None:
        return None
    text = ast.unparse(node)
    for prefix in ("sqlalchemy.", "sa."):
        text = text.replace(prefix, "")
    return text


def _leaf_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _literal_text(node: ast.expr) -> str | None:
    try:
        return repr(ast.literal_eval(node))
    except (ValueError, TypeError, SyntaxError):
        return ast.unparse(node)
