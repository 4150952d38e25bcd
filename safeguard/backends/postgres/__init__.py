"""PostgreSQL: snapshots by pg_dump (or a server-side template copy), restores by
rebuilding beside the live database and swapping it in by rename.

    backend.py    PostgresBackend: the Backend protocol, tying the rest together
    server.py     connection parameters, connections, the password's passfile
    tools.py      pg_dump / pg_restore: location, version check, running them
    strategy.py   the snapshot strategies' protocol
    dump.py       pg_strategy = dump: pg_dump custom/directory, pg_restore
    template.py   pg_strategy = template: CREATE DATABASE ... TEMPLATE
    databases.py  whole databases: create, copy, rename, drop; owner/ACL/settings
    swap.py       the rename swap, other sessions, finishing an interrupted swap
    names.py      the auxiliary databases' names (D.sg-ready, D.sg-old, ...)
    catalog.py    tables, row counts, integrity problems inside one database
    advisory.py   the advisory lock for one guarded operation per database
    options.py    the pg_* settings
"""

from .backend import PostgresBackend

__all__ = ["PostgresBackend"]
