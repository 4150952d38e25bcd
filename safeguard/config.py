"""Settings: the `[safeguard]` section of alembic.ini, `[tool.safeguard]` in
pyproject.toml, `SAFEGUARD_*` environment variables and command-line flags.

Later sources win: pyproject.toml < alembic.ini < environment < flags. Unknown keys are
an error that names the key, because a misspelt `polcy = always` silently ignored is
exactly the kind of surprise a safety tool must not have.
"""

from __future__ import annotations

import configparser
import math
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

POLICIES = ("destructive", "always", "never")
INTEGRITY_MODES = ("full", "quick")
COMPRESSIONS = ("none", "zstd")

#: Every key safeguard understands, with a one-line meaning (shown in errors and docs).
KNOWN_KEYS: dict[str, str] = {
    "store": "snapshot store directory (default: .safeguard beside alembic.ini)",
    "policy": "when to snapshot: destructive | always | never",
    "metadata": "dotted path to the application's MetaData, e.g. core.database.models:SQLModel.metadata",
    "checks": "dotted paths of Python health checks, comma or newline separated",
    "smoke_check": "dotted path of the application's own smoke check",
    "check_timeout": "seconds each health check may take",
    "integrity": "SQLite integrity check after migrating: full | quick",
    "lock_timeout": "seconds to wait for another guarded operation to finish",
    "compression": "snapshot compression: none | zstd",
    "compression_level": "zstd level, 1-22",
    "keep_last": "retention: always keep the newest N snapshots",
    "keep_daily": "retention: keep one snapshot a day for N days",
    "keep_weekly": "retention: keep one snapshot a week for N weeks",
    "keep_monthly": "retention: keep one snapshot a month for N months",
    "max_age_days": "retention: prune snapshots older than this (pinned ones excepted)",
    "pg_bindir": "directory of pg_dump/pg_restore to use (default: found on PATH)",
    "pg_strategy": "PostgreSQL snapshots: dump (pg_dump) | template (CREATE DATABASE ... TEMPLATE)",
    "pg_format": "pg_dump format: auto | custom | directory",
    "pg_jobs": "parallel pg_dump/pg_restore jobs for the directory format",
    "pg_directory_threshold_mb": "auto format: use directory format above this size",
    "pg_lock_wait_timeout": "pg_dump --lock-wait-timeout, in seconds",
    "pg_sessions": "other sessions during a restore: wait (up to pg_sessions_timeout) | terminate",
    "pg_sessions_timeout": "seconds to wait for other sessions to disconnect before a restore",
}
#: Keys with a free-form suffix: `sql_check.NAME = QUERY`, `job.NAME = SPEC`.
PREFIXED_KEYS = ("sql_check.", "job.")
#: Keys that are a number of seconds.
SECONDS_KEYS = ("check_timeout", "lock_timeout", "pg_lock_wait_timeout", "pg_sessions_timeout")
#: Keys that are a count, which no source may make negative.
COUNT_KEYS = ("keep_last", "keep_daily", "keep_weekly", "keep_monthly")


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know before it looks at the database."""

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
    integrity: str = "full"
    lock_timeout: float = 60.0
    compression: str = "none"
    compression_level: int = 3
    keep_last: int = 10
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 12
    max_age_days: int | None = None
    jobs: Mapping[str, str] = field(default_factory=dict)
    pg_bindir: str | None = None
    pg_strategy: str = "dump"
    pg_format: str = "auto"
    pg_jobs: int = 2
    pg_directory_threshold_mb: int = 512
    pg_lock_wait_timeout: float = 30.0
    pg_sessions: str = "wait"
    pg_sessions_timeout: float = 30.0

    @property
    def project_dir(self) -> Path:
        """The directory holding alembic.ini: relative paths are resolved from here."""
        return self.config_file.resolve().parent

    @property
    def store_dir(self) -> Path:
        """The snapshot store, absolute."""
        if self.store is None:
            return self.project_dir / ".safeguard"
        return self.store if self.store.is_absolute() else self.project_dir / self.store

    def with_overrides(self, **flags: Any) -> "Settings":
        """Apply command-line flags (None means "not given")."""
        given = {k: v for k, v in flags.items() if v is not None}
        return _validated(replace(self, **_coerce_all(given, source="option")))


def load_settings(
    config_file: str | os.PathLike[str] = "alembic.ini",
    *,
    environ: Mapping[str, str] | None = None,
    **flags: Any,
) -> Settings:
    """Read settings from every source, later sources winning, then validate them."""
    path = Path(config_file)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory (pass -c/--config PATH/TO/alembic.ini)")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path} (pass -c/--config PATH)")
    environ = os.environ if environ is None else environ

    raw: dict[str, str] = {}
    raw.update(_read_pyproject(path.resolve().parent / "pyproject.toml"))
    raw.update(_read_ini(path))
    env_values = {
        key[len("SAFEGUARD_"):].lower(): value
        for key, value in environ.items()
        if key.startswith("SAFEGUARD_") and key[len("SAFEGUARD_"):].lower() in KNOWN_KEYS
    }
    raw.update(env_values)

    values = _coerce_all(_fold_prefixed(raw), source=str(path))
    url = flags.pop("url", None) or environ.get("DATABASE_URL") or None
    settings = Settings(config_file=path, url=url, **values)
    return settings.with_overrides(**flags)


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
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
        raise ConfigError(f"{path}: cannot parse: {exc}".splitlines()[0]) from exc
    section = data.get("tool", {}).get("safeguard", {})
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
        if key == "store":
            return Path(value)
        if key == "checks":
            return tuple(p.strip() for p in value.replace(",", "\n").splitlines() if p.strip())
        if key in SECONDS_KEYS:
            return float(value)
        if key in ("compression_level", *COUNT_KEYS, "pg_jobs", "pg_directory_threshold_mb"):
            return int(value)
        if key == "max_age_days":
            return int(value) if value.strip() else None
    except ValueError as exc:
        raise ConfigError(f"{source}: {key} = {value!r} is not a valid number") from exc
    if key in ("policy", "integrity", "compression", "pg_strategy", "pg_format", "pg_sessions"):
        return value.strip().lower()
    return value.strip()


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
    if settings.pg_jobs < 1:
        raise ConfigError("pg_jobs must be at least 1")
    if not 1 <= settings.compression_level <= 22:
        raise ConfigError("compression_level must be between 1 and 22")
    return settings
