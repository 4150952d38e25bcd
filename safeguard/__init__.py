"""safeguard: verified snapshots, health checks and automatic restore around Alembic
migrations.

The public API: the verbs in `safeguard.api` (one per command), the settings loader,
the result types and the error tree.
"""

__version__ = "0.1.0"

from .api import (  # noqa: E402  (the version must exist before submodules import it)
    current,
    heads,
    history,
    list_snapshots,
    migrate,
    offline_sql,
    plan,
    stamp,
)
from .config import Settings, load_settings  # noqa: E402
from .errors import SafeguardError  # noqa: E402
from .guard import GuardResult  # noqa: E402
from .health import CheckResult, HealthReport  # noqa: E402
from .plan import Plan  # noqa: E402
from .store import Snapshot, SnapshotStore  # noqa: E402

__all__ = [
    "CheckResult", "GuardResult", "HealthReport", "Plan", "SafeguardError", "Settings",
    "Snapshot", "SnapshotStore", "current", "heads", "history", "list_snapshots",
    "load_settings", "migrate", "offline_sql", "plan", "stamp",
]
