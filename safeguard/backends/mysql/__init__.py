"""MySQL and MariaDB: snapshots by mariadb-dump (mysqldump) --single-transaction,
restores by loading beside the live database and swapping the tables in with one
RENAME TABLE.

    backend.py    MySQLBackend: the Backend protocol, tying the rest together
    server.py     connection parameters, connections, the password's option file
    tools.py      mariadb-dump / mariadb: location, version check, running them
    dump.py       the snapshot (counts of the same instant) and loading it back
    swap.py       the RENAME TABLE swap, finishing an interrupted one
    names.py      the auxiliary databases' names (D__sg_restoring, D__sg_old, ...)
    catalog.py    tables, row counts, CHECK TABLE, views/triggers/routines/events
    lock.py       the named lock (GET_LOCK) for one guarded operation per database
"""

from .backend import MySQLBackend

__all__ = ["MySQLBackend"]
