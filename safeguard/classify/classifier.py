"""Provisional classifier: fail-safe until the static analysis lands."""

from __future__ import annotations

import ast
import os
from pathlib import Path

from safeguard.classify import codes
from safeguard.classify.errors import ClassifyError
from safeguard.classify.header import read_header
from safeguard.classify.result import Classification, Finding

RENDER_MODES = ("auto", "always", "never")


def classify_file(path, direction="upgrade", dialect=None, *, render="auto") -> Classification:
    """Classify the revision file at ``path``."""
    try:
        source = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ClassifyError(f"{os.fspath(path)}: cannot read revision file: {exc}") from exc
    return classify_source(source, os.fspath(path), direction, dialect, render=render)


def classify_source(source, path="<string>", direction="upgrade", dialect=None, *, render="auto"):
    """Classify revision source text."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise ClassifyError(f"{path}:{exc.lineno or 1}: syntax error: {exc.msg}") from exc
    header = read_header(tree, path)
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == direction), None)
    empty = fn is None or all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)) for s in fn.body)
    findings = () if empty else (Finding(codes.UNANALYSABLE, "cannot be analysed statically: provisional classifier", fn.lineno),)
    return Classification(path, header.revision, header.down_revision, direction,
                          codes.verdict_for(f.code for f in findings), findings, header.acknowledgement)
