"""The project's declared helpers (the ``lint_known`` setting), checked before use.

A declaration tells the classifier what a call into the project's own code does
(classify/declared.py says how it is applied). A declaration that names nothing is
refused rather than ignored: a misspelt ``myapp.helpers:add_audit_triger=safe`` would
otherwise cover nothing while its author believed the warning it was written for
had been dealt with, and a name that does not import cannot be the code the revision
calls. So every declared name is imported once, as the project's env.py would import
it: from the project's directory and Alembic's ``prepend_sys_path``. Importing runs
the module's top-level code, as env.py and the health checks' imports do; the
modules stay imported, and ``sys.path`` is put back.
"""

from __future__ import annotations

import contextlib
import pkgutil
import sys
import warnings
from collections.abc import Iterator

from .classify import Declaration
from .config import Settings
from .errors import ConfigError


def declared_helpers(settings: Settings) -> tuple[Declaration, ...]:
    """The ``lint_known`` declarations of ``settings``, each checked to import;
    ConfigError naming the first that does not."""
    if not settings.lint_known:
        return ()
    where = settings.sources.get("lint_known", "the configuration")
    source = where if where.startswith("environment") else f"{where} lint_known"
    with _project_on_path(settings):
        for target in settings.lint_known:
            try:
                pkgutil.resolve_name(target)
            except Exception as exc:  # ImportError, AttributeError, or the module's own failure
                raise ConfigError(f"{source}: {target} does not import "
                                  f"({type(exc).__name__}: {exc})".splitlines()[0]) from exc
    return tuple(Declaration(target, verdict, source) for target, verdict in settings.lint_known.items())


@contextlib.contextmanager
def _project_on_path(settings: Settings) -> Iterator[None]:
    """The project's directory and its ``prepend_sys_path`` entries first on sys.path
    while the body runs; sys.path as it was afterwards."""
    from .project import Project

    with warnings.catch_warnings():  # Alembic's note on a missing path_separator
        warnings.simplefilter("ignore")
        prepend = Project(settings).config.get_prepend_sys_paths_list() or []
    saved = list(sys.path)
    sys.path[:0] = [*prepend, str(settings.project_dir)]
    try:
        yield
    finally:
        sys.path[:] = saved
