"""The database password: it goes to the server and nowhere else.

A URL may carry it in two places, the user part (``postgresql://app:PW@host/db``) and
the query string (``postgresql://app@host/db?password=PW``, which libpq and SQLAlchemy
both accept). safeguard shows a URL only as `public_url` renders it, and hands child
processes (pg_dump, pg_restore, mariadb-dump) an environment that `without_secret` has
cleaned (of the remote store's AWS credentials too):
safeguard itself puts the URL in ``DATABASE_URL`` for an unmodified env.py, and
/proc/<pid>/environ of a child must not repeat it.
"""

from __future__ import annotations

from typing import Mapping
from urllib.parse import unquote, unquote_plus

from sqlalchemy.engine import URL

#: Query-string keys whose value is a password.
SECRET_QUERY_KEYS = frozenset({"password"})
#: The remote store's credentials (the standard AWS chain reads them from the
#: environment) and the key that signs its manifests (signature.py): the database's
#: client tools have no use for them.
CLOUD_SECRETS = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                           "AWS_SECURITY_TOKEN", "SAFEGUARD_REMOTE_KEY"})


def url_password(url: URL) -> str | None:
    """The password the driver will use: the query string's if given (it overrides the
    user part, as SQLAlchemy's PostgreSQL dialects do), else the user part's."""
    for key in SECRET_QUERY_KEYS:
        value = url.query.get(key)
        if value is not None:
            return value[-1] if isinstance(value, tuple) else value
    return url.password


def public_url(url: URL) -> str:
    """The URL with every password masked (``app:***@host``, wherever the URL had it):
    the only form safeguard prints or records."""
    public = url.difference_update_query(SECRET_QUERY_KEYS)
    if url_password(url) is not None:
        public = public.set(password="masked")
    return public.render_as_string(hide_password=True)


def with_credentials(recorded: URL, config: URL | None) -> URL:
    """The URL a journal recorded (`public_url`: its password masked, if it had one),
    with the password of ``config`` (the project's own sqlalchemy.url) when that URL
    names the same server, database and user; else with no password at all, for libpq
    to find one (~/.pgpass, PGPASSWORD) as it would for the application."""
    bare = recorded.difference_update_query(SECRET_QUERY_KEYS)
    url = URL.create(bare.drivername, bare.username, None, bare.host, bare.port, bare.database,
                     bare.query)  # (URL.set cannot take a password away)
    if config is not None and _same_login(url, config):
        password = url_password(config)
        if password is not None:
            url = url.set(password=password)
    return url


def _same_login(a: URL, b: URL) -> bool:
    return (a.get_backend_name(), a.host, a.port or None, a.database, a.username) == \
        (b.get_backend_name(), b.host, b.port or None, b.database, b.username)


def without_secret(environ: Mapping[str, str], secret: str | None) -> dict[str, str]:
    """``environ`` for a database client tool: without the variables that spell
    ``secret`` (escaped or not), nor the remote store's credentials."""
    return {key: value for key, value in environ.items()
            if key not in CLOUD_SECRETS and not (secret and _spells(value, secret))}


def _spells(value: str, secret: str) -> bool:
    return any(secret in form for form in (value, unquote(value), unquote_plus(value)))
