"""Settings: the `[safeguard]` section of alembic.ini, `[tool.safeguard]` in
pyproject.toml, `SAFEGUARD_*` environment variables and command-line flags; and where
the project's Alembic configuration is (alembic.ini, or pyproject.toml alone).

Later sources win: pyproject.toml < alembic.ini < environment < flags. Unknown keys are
an error that names the key, because a misspelt `polcy = always` silently ignored is
exactly the kind of surprise a safety tool must not have.
"""

from __future__ import annotations

import configparser
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .errors import ConfigError
from .retention import RetentionPolicy

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

if TYPE_CHECKING:
    from .host import Host

POLICIES = ("destructive", "always", "never")
#: What a project can declare a call to be (lint_known; see classify/declared.py).
LINT_VERDICTS = ("safe", "not-database")
INTEGRITY_MODES = ("changed", "quick", "full")
COMPRESSIONS = ("none", "zstd")

#: Every key safeguard understands, with a one-line meaning (shown in errors and docs).
KNOWN_KEYS: dict[str, str] = {
    "store": "snapshot store directory (default: .safeguard beside alembic.ini or pyproject.toml)",
    "policy": "when to snapshot: destructive (default: before a run with a destructive or "
              "unknown revision, and any run its transaction cannot undo) | always | never "
              "(no snapshot, no undo, not even before a destructive revision)",
    "metadata": "dotted path to the application's MetaData, e.g. core.database.models:SQLModel.metadata",
    "checks": "dotted paths of Python health checks, comma or newline separated",
    "smoke_check": "dotted path of the application's own smoke check",
    "check_timeout": "seconds each health check may take",
    "integrity": "integrity check after a run: changed (the tables it touched) | quick | full (whole database)",
    "lock_timeout": "seconds to wait for another guarded operation or backup on the same database, "
                    "and (SQLite) for another writer to release the database before a snapshot",
    "timeout": "seconds a guarded run may take; past it the migration is stopped and restored",
    "compression": "snapshot compression: none | zstd (streaming; verified after writing)",
    "compression_level": "zstd level, 1-22",
    "keep_last": "retention: always keep the newest N snapshots",
    "keep_daily": "retention: keep the newest snapshot of each of the last N days",
    "keep_weekly": "retention: keep the newest snapshot of each of the last N ISO weeks",
    "keep_monthly": "retention: keep the newest snapshot of each of the last N months",
    "max_age_days": "retention: prune snapshots older than this (pinned ones excepted)",
    "auto_prune": "retention: true (default): apply it after every operation that adds a "
                  "snapshot; false: only on `snapshot prune` and scheduled jobs with prune",
    "pg_bindir": "directory of pg_dump/pg_restore to use (default: found on PATH)",
    "pg_strategy": "PostgreSQL snapshots: dump (pg_dump) | template (CREATE DATABASE ... TEMPLATE, "
                   "needs exclusive access)",
    "pg_format": "pg_dump format: auto (directory above pg_directory_threshold_mb) | custom | directory",
    "pg_jobs": "parallel pg_dump/pg_restore jobs for the directory format",
    "pg_directory_threshold_mb": "auto format: use directory format above this size",
    "pg_compress": "pg_dump --compress level, 0-9 (default 0: on 2 cores, gzip costs more time than "
                   "the bytes it saves)",
    "pg_lock_wait_timeout": "pg_dump --lock-wait-timeout, in seconds",
    "pg_sessions": "other sessions during a restore: wait (up to pg_sessions_timeout) | terminate",
    "pg_sessions_timeout": "seconds to wait for other sessions to disconnect before a restore",
    "remote": "remote snapshot store: s3://BUCKET/PREFIX (every snapshot is uploaded there too; "
              "credentials come from the standard AWS chain, never from here)",
    "remote_endpoint": "URL of an S3-compatible service (MinIO, R2, B2, Ceph); default: AWS S3",
    "remote_region": "the remote bucket's region (default: the AWS chain's)",
    "remote_profile": "the AWS shared-config profile whose credentials reach the remote",
    "remote_required": "true: refuse a guarded run (before migrating) when the remote cannot be "
                       "written; false (default): protect locally and warn",
    "remote_key": "the secret key that signs the remote's manifests and authenticates what is "
                  "restored from it (docs/remote.md): only from the environment, "
                  "SAFEGUARD_REMOTE_KEY, never from a file of settings; several, separated by "
                  "spaces: the first signs, any verifies",
    "remote_key_file": "a file holding the remote key (readable by its owner only), for when "
                       "SAFEGUARD_REMOTE_KEY is not set",
    "database_name": "the name that identifies this database's snapshots on every machine, so a "
                     "checkout at another path or a new machine restores them (default: a SQLite "
                     "file inside the project by its path relative to the project, else the file's "
                     "absolute path or host:port/dbname); hosts sharing a remote, each with a "
                     "database of its own, give each its own name",
    "table_lock_timeout": "MySQL/MariaDB: seconds safeguard's own statements wait for other sessions "
                          "holding the database's tables (the restore's RENAME TABLE swap, the "
                          "snapshot's table lock) before failing with the sessions named",
    "lint_known": "the project's own helpers the classifier may take as known, comma or newline "
                  "separated: MODULE[:NAME]=safe (works on the database, loses nothing) or "
                  "MODULE[:NAME]=not-database (talks to something else: a cache, a file)",
}
#: Keys with a free-form suffix, with their meaning: `sql_check.NAME = QUERY`, `job.NAME = SPEC`.
PREFIXED_KEYS: dict[str, str] = {
    "sql_check.": "a SQL health check, one key per check: passes when the query returns one "
                  "true value, or no rows",
    "job.": "a scheduled snapshot job: cron EXPR | every DURATION | on-demand, then any of "
            "; verify ; prune ; tz ZONE",
}
#: Keys that are a number of seconds.
SECONDS_KEYS = ("check_timeout", "lock_timeout", "pg_lock_wait_timeout", "pg_sessions_timeout",
                "table_lock_timeout")
#: Keys that are a count, which no source may make negative.
COUNT_KEYS = ("keep_last", "keep_daily", "keep_weekly", "keep_monthly")


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know before it looks at the database."""

    #: alembic.ini, or pyproject.toml for a project configured there alone.
    config_file: Path
    #: May hold a password: kept out of repr(), so printing the settings never shows it.
    url: str | None = field(default=None, repr=False)
    store: Path | None = None
    policy: str = "destructive"
    metadata: str | None = None
    checks: tuple[str, ...] = ()
    smoke_check: str | None = None
    check_timeout: float = 60.0
    sql_checks: Mapping[str, str] = field(default_factory=dict)
    integrity: str = "changed"
    lock_timeout: float = 60.0
    timeout: float | None = None
    compression: str = "none"
    compression_level: int = 3
    # The retention rules: their defaults are the policy's own.
    keep_last: int = RetentionPolicy.keep_last
    keep_daily: int = RetentionPolicy.keep_daily
    keep_weekly: int = RetentionPolicy.keep_weekly
    keep_monthly: int = RetentionPolicy.keep_monthly
    max_age_days: int | None = RetentionPolicy.max_age_days
    auto_prune: bool = True
    jobs: Mapping[str, str] = field(default_factory=dict)
    pg_bindir: str | None = None
    pg_strategy: str = "dump"
    pg_format: str = "auto"
    pg_jobs: int = 2
    pg_directory_threshold_mb: int = 512
    pg_compress: int = 0
    pg_lock_wait_timeout: float = 30.0
    pg_sessions: str = "wait"
    pg_sessions_timeout: float = 30.0
    remote: str | None = None
    remote_endpoint: str | None = None
    remote_region: str | None = None
    remote_profile: str | None = None
    remote_required: bool = False
    #: A secret (signature.py): kept out of repr(), and shown by `effective` as "(not shown)".
    remote_key: str | None = field(default=None, repr=False)
    remote_key_file: Path | None = None
    database_name: str | None = None
    table_lock_timeout: float = 30.0
    #: Declared helpers: the name as written (``package.module:attribute``) -> its verdict.
    lint_known: Mapping[str, str] = field(default_factory=dict)
    #: Where each value came from (key -> "alembic.ini [safeguard]", ...); defaults absent.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    #: The application's own ``alembic.config.Config``, when the API was given one:
    #: env.py runs with a copy of it (its ``attributes``, e.g. "connection", shared).
    alembic_config: Any = field(default=None, compare=False, repr=False)
    #: The framework that hosts Alembic (Flask-Migrate), if not Alembic's own CLI: see host.py.
    host: "Host | None" = field(default=None, compare=False, repr=False)

    @property
    def project_dir(self) -> Path:
        """The directory holding the config file: relative paths are resolved from here."""
        return self.config_file.resolve().parent

    @property
    def ini_file(self) -> Path | None:
        """alembic.ini, unless the project keeps its configuration in pyproject.toml only."""
        return None if _is_toml(self.config_file) else self.config_file

    @property
    def toml_file(self) -> Path | None:
        """The pyproject.toml whose [tool.alembic] Alembic also reads (1.16+), if any."""
        if _is_toml(self.config_file):
            return self.config_file
        beside = self.project_dir / "pyproject.toml"
        return beside if beside.is_file() else None

    @property
    def store_dir(self) -> Path:
        """The snapshot store, absolute."""
        if self.store is None:
            return self.project_dir / ".safeguard"
        return self.store if self.store.is_absolute() else self.project_dir / self.store

    @property
    def remote_key_path(self) -> Path | None:
        """remote_key_file, absolute (relative paths are the project's)."""
        if self.remote_key_file is None:
            return None
        path = self.remote_key_file.expanduser()
        return path if path.is_absolute() else self.project_dir / path

    def with_overrides(self, **flags: Any) -> "Settings":
        """Apply command-line flags (None means "not given")."""
        given = {k: v for k, v in flags.items() if v is not None}
        sources = {**self.sources, **{k: f"command line --{k.replace('_', '-')}" for k in given}}
        return _validated(replace(self, **_coerce_all(given, source="option"), sources=sources))

    def effective(self) -> list[tuple[str, Any, str]]:
        """(key, value, where it came from) for every setting, secrets masked: what
        `safeguard config` shows."""
        rows: list[tuple[str, Any, str]] = [
            ("config_file", str(self.config_file), "command line -c/--config or the default"),
            ("url", mask_url(self.url) if self.url else None,
             self.sources.get("url", "not set: env.py decides")),
        ]
        for key in KNOWN_KEYS:
            value = getattr(self, key)
            if key == "store":
                value = str(self.store_dir)
            elif key == "remote_key":
                value = "(not shown)" if value else None
            elif key == "remote_key_file" and value is not None:
                value = str(self.remote_key_path)
            elif isinstance(value, tuple):
                value = list(value)
            rows.append((key, value, self.sources.get(key, "default")))
        for prefix, entries in (("sql_check", self.sql_checks), ("job", self.jobs)):
            for name, value in entries.items():
                key = f"{prefix}.{name}"
                rows.append((key, value, self.sources.get(key, "default")))
        return rows


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ***, as every output of safeguard shows it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from .credentials import public_url

    try:
        return public_url(make_url(url))
    except ArgumentError:
        return "(unparseable URL)"


def load_settings(
    config_file: "str | os.PathLike[str] | AlembicConfig | None" = None,
    *,
    environ: Mapping[str, str] | None = None,
    **flags: Any,
) -> Settings:
    """Read settings from every source, later sources winning, then validate them.
    Without ``config_file`` the configuration is found as Alembic finds it (see
    ``locate_config``). ``config_file`` may also be the ``alembic.config.Config`` an
    application already holds (read from a file or built in code, with its
    ``attributes``): env.py then runs with that configuration, and the [safeguard]
    section is read from it."""
    environ = os.environ if environ is None else environ
    given = None
    if config_file is not None and not isinstance(config_file, (str, os.PathLike)):
        given = _alembic_config(config_file)
        path = _file_of(given)
    else:
        path = locate_config(config_file, environ=environ)

    raw: dict[str, str] = {}
    sources: dict[str, str] = {}

    def take(values: Mapping[str, str], source: Callable[[str], str]) -> None:
        raw.update(values)
        sources.update({key: source(key) for key in values})

    take(_no_secret(_read_pyproject(path.resolve().parent / "pyproject.toml"),
                    "pyproject.toml [tool.safeguard]"),
         lambda _: "pyproject.toml [tool.safeguard]")
    if given is not None:
        take(_no_secret(_safeguard_section(given), "the alembic Config's [safeguard]"),
             lambda _: "the alembic Config's [safeguard]")
    elif not _is_toml(path):
        take(_no_secret(_read_ini(path), f"{path.name} [safeguard]"),
             lambda _: f"{path.name} [safeguard]")
    take({key[len("SAFEGUARD_"):].lower(): value for key, value in environ.items()
          if key.startswith("SAFEGUARD_") and key[len("SAFEGUARD_"):].lower() in KNOWN_KEYS},
         lambda key: f"environment SAFEGUARD_{key.upper()}")

    values = {key: _coerce(key, value, sources.get(key, str(path)))
              for key, value in _fold_prefixed(raw).items()}
    url = flags.pop("url", None)
    if url:
        sources["url"] = "command line --url"
    elif environ.get("DATABASE_URL"):
        url = environ["DATABASE_URL"]
        sources["url"] = "environment DATABASE_URL"
    settings = Settings(config_file=path, url=url, sources=sources, alembic_config=given, **values)
    return settings.with_overrides(**flags)


def _no_secret(values: dict[str, str], source: str) -> dict[str, str]:
    """``values``, refused if they hold the remote key: a file of settings is committed
    with the project, and a key anyone with the repository can read signs nothing."""
    if "remote_key" in values:
        raise ConfigError(f"{source}: remote_key is a secret and is never read from a file of "
                          "settings (it would be committed with it): set SAFEGUARD_REMOTE_KEY in "
                          "the environment, or name a private file with remote_key_file")
    return values


def _alembic_config(config: Any) -> Any:
    """``config`` if it is an ``alembic.config.Config``, else ConfigError."""
    from alembic.config import Config

    if not isinstance(config, Config):
        raise ConfigError(f"expected a path or an alembic.config.Config, not {type(config).__name__}")
    return config


def _file_of(config: Any) -> Path:
    """The file an alembic Config was read from; for one built in code, where its file
    would be (``alembic.ini`` in the current directory): relative paths and the store
    are placed from there."""
    named = config.config_file_name or getattr(config, "toml_file_name", None)
    return Path(named) if named else Path("alembic.ini")


def _safeguard_section(config: Any) -> dict[str, str]:
    """The [safeguard] section of an alembic Config (its file's, or set in code)."""
    parser = config.file_config
    if not parser.has_section("safeguard"):
        return {}
    defaults = set(parser.defaults())
    try:
        return {k: v for k, v in parser.items("safeguard") if k not in defaults}
    except configparser.Error as exc:
        raise ConfigError(f"[safeguard]: {exc}".splitlines()[0]) from exc


def locate_config(config_file: str | os.PathLike[str] | None = None, *,
                  environ: Mapping[str, str] | None = None) -> Path:
    """The project's Alembic configuration, as Alembic's own command line finds it: the
    file named (-c), else ALEMBIC_CONFIG, else ./alembic.ini, else ./pyproject.toml when
    it has a [tool.alembic] table (Alembic 1.16+ projects need no alembic.ini at all)."""
    environ = os.environ if environ is None else environ
    named = config_file or environ.get("ALEMBIC_CONFIG")
    if named:
        path = Path(named)
        if path.is_dir():
            raise ConfigError(f"config file {path} is a directory (pass -c/--config PATH/TO/alembic.ini)")
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (pass -c/--config PATH)")
        if _is_toml(path) and not _has_tool_alembic(path):
            raise ConfigError(f"{path} has no [tool.alembic] table (pass -c/--config PATH)")
        return path
    if Path("alembic.ini").is_file():
        return Path("alembic.ini")
    if _has_tool_alembic(Path("pyproject.toml")):
        return Path("pyproject.toml")
    if _is_flask_migrate(Path("migrations")):
        # Its alembic.ini has no script_location and its env.py needs the application:
        # only Flask's command line can run it (safeguard/flask.py).
        raise ConfigError("no alembic.ini here, but migrations/ is a Flask-Migrate repository: "
                          "run safeguard through Flask, e.g. `flask safeguard upgrade` (every "
                          "command is `flask safeguard COMMAND`)")
    raise ConfigError("no alembic.ini here, and no pyproject.toml with a [tool.alembic] table "
                      "(pass -c/--config PATH)")


def _is_flask_migrate(directory: Path) -> bool:
    """Whether ``directory`` is a repository `flask db init` made: an alembic.ini, and
    an env.py that takes its engine from Flask's ``current_app``."""
    try:
        return ((directory / "alembic.ini").is_file()
                and "current_app" in (directory / "env.py").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False


def _is_toml(path: Path) -> bool:
    return path.suffix == ".toml"


def _has_tool_alembic(path: Path) -> bool:
    return path.is_file() and "alembic" in _load_toml(path).get("tool", {})


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
        raise ConfigError(f"{path}: cannot parse: {exc}".splitlines()[0]) from exc


def _read_ini(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=configparser.BasicInterpolation())
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigError(f"{path}: cannot parse: {exc}".splitlines()[0]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot parse: not UTF-8 text (byte {exc.start})") from exc
    if not parser.has_section("safeguard"):
        return {}
    here = str(path.resolve().parent)
    try:
        return {k: v for k, v in parser.items("safeguard", vars={"here": here})
                if k != "here"}
    except configparser.Error as exc:
        raise ConfigError(f"{path}: [safeguard]: {exc}".splitlines()[0]) from exc


def _read_pyproject(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    section = _load_toml(path).get("tool", {}).get("safeguard", {})
    flat: dict[str, str] = {}
    for key, value in section.items():
        if isinstance(value, dict):  # [tool.safeguard.sql_check] NAME = "..."
            for sub, subvalue in value.items():
                flat[f"{key}.{sub}"] = str(subvalue)
        elif isinstance(value, list):
            flat[key] = "\n".join(str(v) for v in value)
        else:
            flat[key] = str(value)
    return flat


def _fold_prefixed(raw: Mapping[str, str]) -> dict[str, Any]:
    """Check every key, and gather `sql_check.NAME` / `job.NAME` keys into dicts."""
    out: dict[str, Any] = {"sql_checks": {}, "jobs": {}}
    for key, value in raw.items():
        if key in KNOWN_KEYS:
            out[key] = value
        elif key.startswith("sql_check.") and len(key) > len("sql_check."):
            out["sql_checks"][key[len("sql_check."):]] = value
        elif key.startswith("job.") and len(key) > len("job."):
            out["jobs"][key[len("job."):]] = value
        else:
            raise ConfigError(
                f"unknown configuration key {key!r} in [safeguard] "
                f"(known keys: {', '.join(sorted(KNOWN_KEYS))}, sql_check.NAME, job.NAME)"
            )
    return out


def _coerce_all(values: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    return {key: _coerce(key, value, source) for key, value in values.items()}


def _coerce(key: str, value: Any, source: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if key == "remote_key_file":
            return Path(value.strip()) if value.strip() else None
        if key == "remote_key":
            return value if value.strip() else None
        if key == "store":
            if not value.strip():
                # Path("") is ".": the project directory itself would become the store.
                raise ConfigError(f"{source}: store is empty (name the snapshot store's "
                                  "directory, e.g. store = .safeguard)")
            return Path(value.strip())
        if key == "checks":
            return tuple(p.strip() for p in value.replace(",", "\n").splitlines() if p.strip())
        if key in SECONDS_KEYS:
            return float(value)
        if key == "timeout":
            return float(value) if value.strip() else None
        if key in ("compression_level", *COUNT_KEYS, "pg_jobs", "pg_directory_threshold_mb",
                   "pg_compress"):
            return int(value)
        if key == "max_age_days":
            return int(value) if value.strip() else None
    except ValueError as exc:
        raise ConfigError(f"{source}: {key} = {value!r} is not a valid number") from exc
    if key in ("remote_required", "auto_prune"):
        return _boolean(key, value, source)
    if key == "lint_known":
        return _lint_known(value, source)
    if key in ("remote", "remote_endpoint", "remote_region", "remote_profile", "database_name"):
        return value.strip() or None
    if key in ("policy", "integrity", "compression", "pg_strategy", "pg_format", "pg_sessions"):
        return value.strip().lower()
    return value.strip()


_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?::[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)?")


def _lint_known(value: str, source: str) -> dict[str, str]:
    """``a.b:c=safe, d.e=not-database`` -> {"a.b:c": "safe", "d.e": "not-database"}."""
    declared: dict[str, str] = {}
    for entry in (part.strip() for part in value.replace(",", "\n").splitlines()):
        if not entry:
            continue
        target, _, verdict = (piece.strip() for piece in entry.rpartition("="))
        if not _DOTTED.fullmatch(target) or verdict not in LINT_VERDICTS:
            raise ConfigError(f"{source}: lint_known entry {entry!r} is not "
                              f"MODULE[:NAME]={' or '.join(LINT_VERDICTS)}")
        declared[target] = verdict
    return declared


def _boolean(key: str, value: str, source: str) -> bool:
    word = value.strip().lower()
    if word in ("true", "yes", "on", "1"):
        return True
    if word in ("false", "no", "off", "0", ""):
        return False
    raise ConfigError(f"{source}: {key} = {value!r} is not true or false")


def _validated(settings: Settings) -> Settings:
    choices = {"policy": POLICIES, "integrity": INTEGRITY_MODES, "compression": COMPRESSIONS,
               "pg_strategy": ("dump", "template"), "pg_format": ("auto", "custom", "directory"),
               "pg_sessions": ("wait", "terminate")}
    for key, allowed in choices.items():
        value = getattr(settings, key)
        if value not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    for key in SECONDS_KEYS:
        # nan compares false with everything, so it would pass the sign check below.
        if not math.isfinite(getattr(settings, key)):
            raise ConfigError(f"{key} must be a finite number of seconds, not {getattr(settings, key)!r}")
    for key in (*SECONDS_KEYS, *COUNT_KEYS, "max_age_days"):
        # A negative max_age_days would make every snapshot too old to keep.
        if (getattr(settings, key) or 0) < 0:
            raise ConfigError(f"{key} must not be negative")
    if settings.timeout is not None:
        if not math.isfinite(settings.timeout) or settings.timeout <= 0:
            raise ConfigError("timeout must be a positive number of seconds")
        if settings.policy == "never":
            raise ConfigError("timeout needs a snapshot to restore a stopped run, "
                              "and policy is 'never'")
    if settings.pg_jobs < 1:
        raise ConfigError("pg_jobs must be at least 1")
    if settings.remote is not None and not settings.remote.startswith("s3://"):
        raise ConfigError(f"remote must be s3://BUCKET/PREFIX, not {settings.remote!r}")
    if settings.remote_required and settings.remote is None:
        raise ConfigError("remote_required is true, but no remote is set")
    if not 0 <= settings.pg_compress <= 9:
        raise ConfigError("pg_compress must be between 0 and 9")
    if not 1 <= settings.compression_level <= 22:
        raise ConfigError("compression_level must be between 1 and 22")
    return settings
