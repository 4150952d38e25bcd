"""`safeguard lint` and `safeguard revision`: the classifier over revision files, with
no database (linting.py does the work)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .. import linting
from ..classify import Classification
from ..config import Settings
from ..declarations import declared_helpers
from ..linting import LintReport
from ..revisions import Direction


def lint(paths: Sequence[str | Path], *, settings: Settings | None = None,
         dialect: str | None = None, direction: Direction = "upgrade",
         strict: bool = False, strict_may_fail: bool = False) -> LintReport:
    """Classify each revision file in ``paths`` (default, with no paths: the version
    directories of the project ``settings`` name); LintFailedError under ``strict``
    when a destructive or unknown revision is not acknowledged in its file (and under
    ``strict_may_fail`` also a may-fail one: see linting.lint). With ``settings``, the
    project's declared helpers (``lint_known``) apply; ConfigError if one does not
    import."""
    if not paths:
        if settings is None:
            raise TypeError("lint needs paths, or the settings of a project to find them")
        paths = linting.script_locations(settings)
    declarations = declared_helpers(settings) if settings is not None else ()
    return linting.lint(paths, dialect=dialect, direction=direction, strict=strict,
                        strict_may_fail=strict_may_fail, declarations=declarations)


def new_revision(settings: Settings, message: str | None, *, autogenerate: bool = False,
                 head: str = "head", rev_id: str | None = None) -> list[Classification]:
    """Alembic's `revision` command, then the new file(s) linted on the spot."""
    return linting.new_revision(settings, message, autogenerate=autogenerate, head=head,
                                rev_id=rev_id)
