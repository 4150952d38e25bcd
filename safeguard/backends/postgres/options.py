"""The PostgreSQL settings (the ``pg_*`` keys of config.py), as the backend uses them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .swap import SessionPolicy

if TYPE_CHECKING:
    from ...config import Settings

MIB = 1024 * 1024


@dataclass(frozen=True)
class Options:
    """How to snapshot and restore; defaults are config.py's."""

    bindir: str | None = None
    strategy: str = "dump"  # dump | template
    format: str = "auto"  # auto | custom | directory
    jobs: int = 2
    directory_threshold_mb: int = 512
    compress: int = 0  # pg_dump --compress; see config.py
    lock_wait_timeout: float = 30.0  # seconds; 0 waits forever
    sessions: SessionPolicy = field(default_factory=SessionPolicy)

    @classmethod
    def from_settings(cls, settings: "Settings | None") -> "Options":
        """The options of ``settings``; config.py's defaults when there are none."""
        from ...config import Settings

        def value(key: str) -> Any:
            if settings is None:
                return Settings.__dataclass_fields__[key].default
            return getattr(settings, key)

        return cls(
            bindir=value("pg_bindir"),
            strategy=value("pg_strategy"),
            format=value("pg_format"),
            jobs=max(1, int(value("pg_jobs"))),
            directory_threshold_mb=value("pg_directory_threshold_mb"),
            compress=value("pg_compress"),
            lock_wait_timeout=value("pg_lock_wait_timeout"),
            sessions=SessionPolicy(value("pg_sessions"), value("pg_sessions_timeout")),
        )

    def dump_format(self, database_size: int) -> str:
        """custom or directory: ``auto`` picks directory (parallel) above the threshold."""
        if self.format != "auto":
            return self.format
        return "directory" if database_size > self.directory_threshold_mb * MIB else "custom"
