"""Entry points: classify a revision file or its source text."""

from __future__ import annotations

import ast
import os
from collections.abc import Sequence
from importlib.util import decode_source
from pathlib import Path
from typing import TYPE_CHECKING

from . import codes, dialects, static
from .declared import Declaration
from .errors import ClassifyError
from .header import read_header
from .result import Classification
from .transaction import outside_transaction

if TYPE_CHECKING:
    from ..revisions import Direction

DIRECTIONS = ("upgrade", "downgrade")


def classify_file(path: str | os.PathLike, direction: Direction = "upgrade",
                  dialect: str | None = None,
                  declarations: Sequence[Declaration] = ()) -> Classification:
    """Classify the revision file at ``path`` (see :func:`classify_source`).

    Raises :class:`ClassifyError` when the file cannot be read or decoded.
    """
    shown = os.fspath(path)
    try:
        source = decode_source(Path(path).read_bytes())
    except OSError as exc:
        raise ClassifyError(f"{shown}: cannot read revision file: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, SyntaxError) as exc:
        raise ClassifyError(f"{shown}:1: cannot decode revision file: {exc}") from exc
    return classify_source(source, shown, direction, dialect, declarations)


def classify_source(source: str, path: str = "<string>", direction: Direction = "upgrade",
                    dialect: str | None = None,
                    declarations: Sequence[Declaration] = ()) -> Classification:
    """Classify revision source text for one direction.

    ``dialect`` is the target database ("sqlite", "postgresql") or None for all:
    with a dialect, branches that test the dialect name are pruned. ``declarations``
    are the project's declared helpers (see declared.py): a finding about a call
    they cover is kept, resolved, and left out of the verdict. A syntax error or a
    malformed acknowledgement is a :class:`ClassifyError` naming ``path`` and the line.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'upgrade' or 'downgrade', not {direction!r}")
    target = dialects.normalise(dialect)
    tree = parse_revision(source, path)
    header = read_header(tree, path)
    found = static.analyse(tree, direction, target, tuple(declarations))
    findings = found.findings()
    return Classification(
        path=path,
        revision=header.revision,
        down_revision=header.down_revision,
        direction=direction,
        verdict=codes.verdict_for(f.code for f in findings if f.counts),
        findings=findings,
        acknowledgement=header.acknowledgement,
        outside_transaction=outside_transaction(tree, source),
    )


def parse_revision(source: str, path: str) -> ast.Module:
    """Parse revision source; a :class:`ClassifyError` ``path:line: syntax error: ...`` if invalid."""
    try:
        return ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise ClassifyError(f"{path}:{exc.lineno or 1}: syntax error: {exc.msg}") from exc
    except ValueError as exc:  # e.g. NUL bytes in the source
        raise ClassifyError(f"{path}:1: syntax error: {exc}") from exc
