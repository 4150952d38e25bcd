"""What in a revision cannot run inside the run's transaction.

On PostgreSQL a run is undone by its own transaction only when every statement of
every revision runs inside it. ``autocommit_block()`` commits the work before it;
CREATE INDEX CONCURRENTLY (``postgresql_concurrently=True``), ALTER TYPE ... ADD VALUE
and VACUUM cannot run in a transaction block; a revision that commits by itself ends
the transaction early. Any of them makes the run's undo a snapshot (see undo.py).

This reads the source and errs towards a snapshot: a call or keyword anywhere in the
module, or the statement's words in any string but a docstring, counts. A false alarm
costs a copy of the database; a miss would leave a failed run half-committed.
alembic-postgresql-enum's ``op.add_enum_value`` runs ALTER TYPE ... ADD VALUE, so it
counts as that statement does.

Most revisions contain none of these words at all: a search of the source text for
them (a superset of what the AST walk can find) skips the walk, which was a third of
the classifier's time per file.
"""

from __future__ import annotations

import ast
import re

from .codes import OUTSIDE_TRANSACTION
from .result import Finding

_CALLS = {
    "autocommit_block": "autocommit_block() commits the run's transaction before it",
    "commit": "commits by itself, ending the run's transaction early",
    "add_enum_value": "op.add_enum_value (alembic-postgresql-enum) runs ALTER TYPE ... ADD VALUE, "
                      "which cannot be used in the transaction that adds it",
}
_STATEMENTS = (
    (re.compile(r"\bCONCURRENTLY\b", re.I), "CONCURRENTLY cannot run inside a transaction"),
    (re.compile(r"\bALTER\s+TYPE\b[\s\S]*\bADD\s+VALUE\b", re.I),
     "ALTER TYPE ... ADD VALUE cannot be used in the transaction that adds it"),
    (re.compile(r"\bVACUUM\b", re.I), "VACUUM cannot run inside a transaction"),
    (re.compile(r"(?:^|;)\s*COMMIT\b", re.I), "COMMIT ends the run's transaction early"),
)


#: Every construct above names one of these (lower-cased) in the source: a call's
#: name, the keyword, or a word each statement pattern needs. Plain substring tests
#: of the lower-cased text: a case-insensitive regular expression cost twenty times as
#: much (0.1 ms a file).
_WORDS = ("commit", "add_enum_value", "concurrently", "vacuum", "value")


def outside_transaction(tree: ast.Module, source: str | None = None) -> tuple[Finding, ...]:
    """One TX101 finding per construct that cannot run in the run's transaction.
    ``source`` (the text ``tree`` was parsed from) lets a file without any of the
    words skip the walk."""
    if source is not None:
        lowered = source.lower()
        if not any(word in lowered for word in _WORDS):
            return ()
    docstrings = _docstrings(tree)
    found: dict[tuple[int, str], Finding] = {}

    def add(line: int, message: str) -> None:
        found.setdefault((line, message), Finding(OUTSIDE_TRANSACTION, message, line))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in _CALLS:
            add(node.lineno, _CALLS[node.func.attr])
        elif isinstance(node, ast.keyword) and node.arg == "postgresql_concurrently" \
                and not (isinstance(node.value, ast.Constant) and not node.value.value):
            add(node.value.lineno, "postgresql_concurrently=True: " + _STATEMENTS[0][1])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            for pattern, message in _STATEMENTS:
                if pattern.search(node.value):
                    add(node.lineno, message)
    return tuple(sorted(found.values(), key=lambda f: (f.line, f.message)))


def _docstrings(tree: ast.Module) -> set[int]:
    nodes = [tree, *(n for n in ast.walk(tree)
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))]
    found = set()
    for node in nodes:
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            found.add(id(body[0].value))
    return found
