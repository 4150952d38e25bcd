"""Whole databases, seen from a maintenance connection: whether one exists, creating,
copying, renaming and dropping them, and the database-level properties that a dump
does not carry.

pg_dump without ``--create`` writes what is *inside* a database; the database's own
owner, privileges (``GRANT CONNECT ...``), per-database settings (``ALTER DATABASE ...
SET search_path``), connection limit and comment live in shared catalogs. A restore
that swaps a new database in by rename must put them back, or the application could
lose its search_path or a role its CONNECT right. They are read when the snapshot is
taken (`read_properties`), kept in the manifest, and applied to the restored database
before it is swapped in (`apply_properties`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import psycopg
from psycopg import sql

from ...errors import DatabaseMissingError

#: GUCs whose value is a list of items each quoted on its own (PostgreSQL's
#: GUC_LIST_QUOTE): ``SET search_path TO 'a, b'`` would make one item of "a, b".
LIST_SETTINGS = frozenset({"search_path", "temp_tablespaces", "session_preload_libraries",
                           "local_preload_libraries", "shared_preload_libraries"})
PRIVILEGES = frozenset({"CREATE", "CONNECT", "TEMPORARY"})
PROVIDERS = {"c": "libc", "i": "icu", "b": "builtin"}


@dataclass(frozen=True)
class DatabaseProperties:
    """What a database is, beyond its contents."""

    owner: str
    encoding: str
    collate: str
    ctype: str
    locale_provider: str = "c"  # pg_database.datlocprovider: c(libc), i(icu), b(builtin)
    locale: str | None = None  # the ICU or builtin locale
    connection_limit: int = -1
    comment: str | None = None
    #: (grantee or "PUBLIC", privilege, grantable); None: the default privileges.
    acl: tuple[tuple[str, str, bool], ...] | None = None
    #: (role or None for every role, "name=value"), as ALTER [ROLE r IN] DATABASE SET.
    settings: tuple[tuple[str | None, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The manifest form (JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DatabaseProperties":
        """Read the manifest form back."""
        values = dict(data)
        if values.get("acl") is not None:
            values["acl"] = tuple((g, p, bool(o)) for g, p, o in values["acl"])
        values["settings"] = tuple((r, s) for r, s in values.get("settings") or ())
        return cls(**values)


@dataclass(frozen=True)
class Extension:
    """An extension as a snapshot found it: who owns it, where it lives."""

    name: str
    owner: str
    schema: str
    version: str


def extensions(conn: psycopg.Connection) -> tuple[Extension, ...]:
    """The extensions of the database ``conn`` is connected to (plpgsql aside: every
    database has it, owned by the bootstrap superuser). pg_dump writes each one's
    CREATE EXTENSION but not its owner, which is whoever runs that statement: the
    role a restore runs as (see create_extensions_as_owners)."""
    return tuple(Extension(*row) for row in conn.execute(
        "SELECT e.extname, pg_get_userbyid(e.extowner), n.nspname, e.extversion "
        "FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname <> 'plpgsql' ORDER BY 1"))


def create_extensions_as_owners(conn: psycopg.Connection, database: str,
                                wanted: tuple[Extension, ...]) -> None:
    """In the new, empty database ``conn`` is connected to (``database``), create each
    extension of ``wanted`` as its owner, where this role may act as that owner (it is
    a superuser, or a member of the owner's role) and the extension's schema exists
    already (public, pg_catalog): pg_restore's own CREATE EXTENSION IF NOT EXISTS then
    passes it by, and the extension keeps its owner (no ALTER EXTENSION sets one).
    Where that cannot be, pg_restore creates it as this role, and
    `extension_owners_lost` says so afterwards. The owner gets CREATE on the new
    database for the statement only."""
    target = sql.Identifier(database)
    for extension in wanted:
        may = conn.execute(
            "SELECT pg_has_role(current_user, r.oid, 'USAGE') AND EXISTS "
            "(SELECT 1 FROM pg_namespace WHERE nspname = %s) FROM pg_roles r WHERE r.rolname = %s",
            (extension.schema, extension.owner)).fetchone()
        if not (may and may[0]):
            continue
        owner = sql.Identifier(extension.owner)
        try:
            conn.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(target, owner))
            conn.execute(sql.SQL("SET ROLE {}").format(owner))
            conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {} VERSION {}").format(
                sql.Identifier(extension.name), sql.Identifier(extension.schema),
                sql.Literal(extension.version)))
        except psycopg.Error:
            pass  # left to pg_restore, and reported then (extension_owners_lost)
        finally:
            conn.execute("RESET ROLE")
            conn.execute(sql.SQL("REVOKE CREATE ON DATABASE {} FROM {}").format(target, owner))


def extension_owners_lost(conn: psycopg.Connection, wanted: tuple[Extension, ...]) -> list[str]:
    """One line per extension of ``wanted`` that the database ``conn`` is connected to
    now holds under another owner."""
    now = {e.name: e.owner for e in extensions(conn)}
    return [f"extension {e.name} was owned by {e.owner} and now belongs to {now[e.name]}: "
            f"only a superuser, or a member of role {e.owner}, can create it as that role"
            for e in wanted if e.name in now and now[e.name] != e.owner]


def exists(conn: psycopg.Connection, name: str) -> bool:
    """Whether a database of that name exists."""
    return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def server_major(conn: psycopg.Connection) -> int:
    """The server's major version (15 for 15.8)."""
    return conn.info.server_version // 10000


def server_version(conn: psycopg.Connection) -> str:
    """The server's version as it reports it on connecting ("15.8")."""
    return (conn.info.parameter_status("server_version") or "").split(" ")[0]
def restore_blockers(conn: psycopg.Connection) -> list[str]:
    """What keeps the connected role from restoring this database, each with its fix.

    A restore builds the snapshot in a new database and renames it into place, which
    needs CREATEDB (or superuser); and it re-creates every extension the database holds,
    which a role that is not superuser can do only for trusted extensions (PostgreSQL
    13+; before, only superusers create extensions other than those in template0)."""
    row = conn.execute(
        "SELECT rolname, rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert row is not None  # the connected role exists
    role, superuser, createdb = row
    if superuser:
        return []
    found = []
    if not createdb:
        found.append(f"role {role} may not create databases (a restore builds the snapshot in "
                     f"a new one): ALTER ROLE \"{role}\" CREATEDB, or run as a role that may")
    trusted = "v.trusted" if server_major(conn) >= 13 else "false"
    untrusted = [row[0] for row in conn.execute(
        f"SELECT e.extname FROM pg_extension e JOIN pg_available_extension_versions v "
        f"ON v.name = e.extname AND v.version = e.extversion "
        f"WHERE e.extname <> 'plpgsql' AND NOT {trusted} ORDER BY 1")]
    if untrusted:
        found.append(f"extension(s) {', '.join(untrusted)} may be created only by a superuser, "
                     f"and role {role} is not one (a restore re-creates them): run safeguard as "
                     "a superuser, or have one mark them trusted")
    return found


def read_properties(conn: psycopg.Connection, name: str) -> DatabaseProperties:
    """The database-level properties of ``name`` (any connection to the server will do)."""
    major = server_major(conn)
    locale = {True: "d.datlocale", False: "d.daticulocale"}[major >= 17] if major >= 15 else "NULL"
    provider = "d.datlocprovider" if major >= 15 else "'c'"
    row = conn.execute(
        f"SELECT pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, "
        f"d.datctype, {provider}, {locale}, d.datconnlimit, "
        f"shobj_description(d.oid, 'pg_database'), d.datacl IS NULL "
        f"FROM pg_database d WHERE d.datname = %s", (name,),
    ).fetchone()
    if row is None:
        raise DatabaseMissingError(f"database {name} does not exist on the server")
    owner, encoding, collate, ctype, provider_code, locale_name, limit, comment, default_acl = row
    acl = None
    if not default_acl:
        acl = tuple(conn.execute(
            "SELECT coalesce(r.rolname, 'PUBLIC'), a.privilege_type, a.is_grantable "
            "FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a "
            "LEFT JOIN pg_roles r ON r.oid = a.grantee "
            "WHERE d.datname = %s ORDER BY 1, 2", (name,),
        ).fetchall())
    settings = tuple(conn.execute(
        "SELECT r.rolname, unnest(s.setconfig) FROM pg_db_role_setting s "
        "JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole "
        "WHERE d.datname = %s ORDER BY 1 NULLS FIRST, 2", (name,),
    ).fetchall())
    return DatabaseProperties(owner, encoding, collate, ctype, str(provider_code), locale_name,
                              limit, comment, acl, settings)


def create_empty(conn: psycopg.Connection, name: str, props: DatabaseProperties) -> None:
    """An empty database with the encoding and locale of the original.

    template0, not template1: objects someone added to template1 would collide with
    the restored ones.
    """
    parts = [sql.SQL("CREATE DATABASE {} WITH TEMPLATE template0 ENCODING {} "
                     "LC_COLLATE {} LC_CTYPE {}").format(
        sql.Identifier(name), sql.Literal(props.encoding), sql.Literal(props.collate),
        sql.Literal(props.ctype))]
    major = server_major(conn)
    if major >= 15 and props.locale_provider in PROVIDERS:
        parts.append(sql.SQL("LOCALE_PROVIDER {}").format(sql.SQL(PROVIDERS[props.locale_provider])))
        if props.locale_provider == "i" and props.locale:
            parts.append(sql.SQL("ICU_LOCALE {}").format(sql.Literal(props.locale)))
        elif props.locale_provider == "b" and props.locale:
            parts.append(sql.SQL("BUILTIN_LOCALE {}").format(sql.Literal(props.locale)))
    conn.execute(sql.SQL(" ").join(parts))


def create_copy(conn: psycopg.Connection, name: str, template: str) -> None:
    """``name`` as a file-level copy of ``template`` (which nobody may be connected to).

    FILE_COPY (PostgreSQL 15+; before 15 the only strategy) copies the files after a
    checkpoint instead of WAL-logging every block: much faster for a big database.
    """
    strategy = sql.SQL(" STRATEGY FILE_COPY") if server_major(conn) >= 15 else sql.SQL("")
    conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}{}").format(
        sql.Identifier(name), sql.Identifier(template), strategy))


def apply_properties(conn: psycopg.Connection, name: str, props: DatabaseProperties) -> None:
    """Give ``name`` the owner, privileges, settings, limit and comment in ``props``."""
    target = sql.Identifier(name)
    conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(target, sql.Identifier(props.owner)))
    conn.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(
        target, sql.Literal(props.connection_limit)))
    conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(target, sql.Literal(props.comment)))
    if props.acl is not None:
        # Start from nothing: the defaults (PUBLIC: CONNECT, TEMPORARY) would otherwise
        # survive where the original had revoked them.
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(target))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
            target, sql.Identifier(props.owner)))
        for grantee, privilege, grantable in props.acl:
            if privilege not in PRIVILEGES:
                continue  # a privilege this version does not know cannot be re-granted
            conn.execute(sql.SQL("GRANT {} ON DATABASE {} TO {}{}").format(
                sql.SQL(privilege), target,
                sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee),
                sql.SQL(" WITH GRANT OPTION") if grantable else sql.SQL("")))
    for role, entry in props.settings:
        setting, _, value = entry.partition("=")
        scope = (sql.SQL("ALTER ROLE {} IN DATABASE {}").format(sql.Identifier(role), target)
                 if role else sql.SQL("ALTER DATABASE {}").format(target))
        conn.execute(sql.SQL("{} SET {} TO {}").format(scope, _setting_name(setting),
                                                       _setting_value(setting, value)))


def _setting_name(name: str) -> sql.Composable:
    # Custom settings are dotted (app.tenant): each part is its own identifier.
    return sql.SQL(".").join(sql.Identifier(part) for part in name.split("."))


def _setting_value(name: str, value: str) -> sql.Composable:
    if name.lower() in LIST_SETTINGS:
        return sql.SQL(", ").join(sql.Literal(item) for item in split_list(value))
    return sql.Literal(value)


def split_list(value: str) -> list[str]:
    """The items of a list setting as the catalog stores it (``"$user", public``)."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == '"' and value[i + 1:i + 2] == '"':
                current.append('"')
                i += 1
            elif ch == '"':
                quoted = False
            else:
                current.append(ch)
        elif ch == '"':
            quoted = True
        elif ch == ",":
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    last = "".join(current).strip()
    if last or items:
        items.append(last)
    return items


def rename(conn: psycopg.Connection, name: str, new_name: str) -> None:
    """``ALTER DATABASE name RENAME TO new_name`` (nobody may be connected to it)."""
    conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
        sql.Identifier(name), sql.Identifier(new_name)))


def allow_connections(conn: psycopg.Connection, name: str, allow: bool) -> None:
    """Open or close a database to new connections (existing ones are not affected)."""
    conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
        sql.Identifier(name), sql.SQL("true" if allow else "false")))


def drop(conn: psycopg.Connection, name: str) -> None:
    """Drop a database of safeguard's own if it exists, ending any session on it."""
    force = sql.SQL(" WITH (FORCE)") if server_major(conn) >= 13 else sql.SQL("")
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force))
