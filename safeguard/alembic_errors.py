"""Alembic's and env.py's errors translated into safeguard's, at this one boundary.

Alembic reports most problems as a bare ``CommandError``; its message is the only
thing that tells an unknown revision from a configuration problem, so the translation
reads it (the phrases matched below are Alembic's own)."""

from __future__ import annotations

import contextlib
from typing import Iterator

from alembic.script.revision import MultipleHeads, ResolutionError, RevisionError
from alembic.util import CommandError
from sqlalchemy import exc as sa_exc

from .errors import ConfigError, MultipleHeadsError, RefusedError, SafeguardError, UnknownRevisionError


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@contextlib.contextmanager
def alembic_errors(hint: str | None = None) -> Iterator[None]:
    """Translate Alembic's errors into safeguard's at this one boundary. ``hint`` is
    the likely cause when env.py itself fails."""
    try:
        yield
    except SafeguardError:
        raise
    except MultipleHeads as exc:
        raise MultipleHeadsError(f"multiple heads: {exc}; name the target revision") from exc
    except (ResolutionError, RevisionError) as exc:
        raise UnknownRevisionError(str(exc)) from exc
    except sa_exc.DBAPIError as exc:
        raise RefusedError(f"cannot read the database: {first_line(exc.orig)}") from exc
    except sa_exc.ArgumentError as exc:
        # create_engine() in env.py refusing the URL (e.g. credentials in a SQLite URL);
        # SQLAlchemy's message shows the URL with its password masked.
        raise ConfigError(f"invalid database URL: {first_line(exc)}") from exc
    except CommandError as exc:
        message = str(exc)
        if "Multiple head" in message:
            raise MultipleHeadsError(message) from exc
        if "Can't locate revision" in message or "No such revision" in message \
                or "is not a valid" in message or "Relative revision" in message:
            raise UnknownRevisionError(message) from exc
        raise ConfigError(message) from exc
    except (Exception, SystemExit) as exc:  # env.py may sys.exit() on a missing setting
        if hint and (isinstance(exc, sa_exc.ArgumentError) or "url" in str(exc).lower()):
            raise ConfigError(f"env.py failed ({type(exc).__name__}: {first_line(exc)}): {hint}") from exc
        raise SafeguardError(f"env.py failed: {type(exc).__name__}: {first_line(exc)}") from exc
