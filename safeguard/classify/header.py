"""Module-level facts of a revision file: its ids and its acknowledgement.

Read from the AST with ``ast.literal_eval``; the module is never imported here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from .errors import ClassifyError
from .result import Acknowledgement

#: The module-level name a revision uses to acknowledge destructiveness.
ACKNOWLEDGEMENT_NAME = "safeguard"
_ACK_KEYS = frozenset({"destructive", "reason"})


@dataclass(frozen=True)
class RevisionHeader:
    """``revision``, ``down_revision`` and the acknowledgement, as written."""

    revision: str | None
    down_revision: str | tuple | None
    acknowledgement: Acknowledgement | None


def read_header(tree: ast.Module, path: str) -> RevisionHeader:
    """Read the revision ids and the ``safeguard`` acknowledgement from ``tree``.

    Ids that are not literals come back as None. A malformed acknowledgement is a
    :class:`ClassifyError` naming ``path`` and the line, because a typo there would
    otherwise silently disable the guard the author meant to configure.
    """
    assigned = _module_assignments(tree)
    revision = _literal(assigned.get("revision"))
    down = _literal(assigned.get("down_revision"))
    if isinstance(down, list):
        down = tuple(down)
    ack_node = assigned.get(ACKNOWLEDGEMENT_NAME)
    return RevisionHeader(
        revision=revision if isinstance(revision, str) else None,
        down_revision=down if isinstance(down, (str, tuple)) else None,
        acknowledgement=_acknowledgement(ack_node, path) if ack_node is not None else None,
    )


def _module_assignments(tree: ast.Module) -> dict[str, ast.expr]:
    """Last value assigned to each plain name at module level (``x = ...``, ``x: T = ...``)."""
    found: dict[str, ast.expr] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            if isinstance(stmt.target, ast.Name):
                found[stmt.target.id] = stmt.value
    return found


def _literal(node: ast.expr | None) -> object:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _acknowledgement(node: ast.expr, path: str) -> Acknowledgement:
    def malformed(problem: str) -> ClassifyError:
        return ClassifyError(
            f"{path}:{node.lineno}: malformed {ACKNOWLEDGEMENT_NAME} acknowledgement: {problem}"
            ' (expected {"destructive": True|False, "reason": "..."})'
        )

    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise malformed("not a literal") from None
    if not isinstance(value, dict):
        raise malformed(f"a {type(value).__name__}, not a dict")
    unknown = sorted(str(k) for k in value if k not in _ACK_KEYS)
    if unknown:
        raise malformed(f"unknown key(s) {', '.join(unknown)}")
    if not isinstance(value.get("destructive"), bool):
        raise malformed('"destructive" must be True or False')
    reason = value.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise malformed('"reason" is missing or empty')
    return Acknowledgement(destructive=value["destructive"], reason=reason.strip(), line=node.lineno)
