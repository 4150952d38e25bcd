"""The application that hosts Alembic, when it is not Alembic's own command line.

Alembic's command line builds its ``Config`` from alembic.ini and runs env.py as it
stands. A framework that wraps Alembic builds the ``Config`` in code and runs env.py
inside its application: Flask-Migrate's alembic.ini has no ``script_location`` (the
extension sets it), its env.py reads ``current_app``, and its ``configure`` callbacks
and ``-x`` arguments shape the ``Config``. A ``Host`` says those two things: how to
build the ``Config``, and the context every env.py call and every health check runs in
(on whatever thread runs it: a check's worker thread, a scheduler's).

safeguard itself knows no framework: an integration module (``safeguard.flask``)
makes the Host and hands it over on ``Settings.host``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Mapping

if TYPE_CHECKING:
    from alembic.config import Config


@dataclass(frozen=True)
class Host:
    """How a framework hosts Alembic for one project."""

    #: Shown in messages, e.g. "Flask-Migrate".
    name: str
    #: Builds the project's Alembic Config, as the framework's own commands do.
    alembic_config: Callable[[], "Config"]
    #: The context env.py and the health checks need (Flask: the application context).
    context: Callable[[], ContextManager[Any]] = contextlib.nullcontext
    #: Options of Alembic's comparison the project uses (compare_type, ...): the drift
    #: check compares the schema with the models as the project's autogenerate does.
    compare: Mapping[str, Any] = field(default_factory=dict)
    #: The application's models (a MetaData), called inside ``context``: what the drift
    #: check compares with when the project sets no ``metadata`` (Flask-Migrate's env.py
    #: autogenerates against the extension's db.metadata, so the check does too).
    metadata: Callable[[], Any] | None = None
    #: How messages name those models, e.g. "Flask-Migrate's db.metadata".
    metadata_name: str = "the host's models"
    #: Points the application's own engine at another database URL for the body of a
    #: ``with`` (a rehearsal's copy), and back after it: the hosted env.py takes its
    #: engine from the application, so no URL safeguard passes would reach it.
    aim: Callable[[str], ContextManager[Any]] | None = None


def hosted(host: Host | None) -> ContextManager[Any]:
    """The host's context, or nothing when Alembic is not hosted."""
    return host.context() if host is not None else contextlib.nullcontext()
