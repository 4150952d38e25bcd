"""safeguard: verified snapshots, health checks and automatic restore around Alembic
migrations.

The public API: the verbs in `safeguard.api` (one per command), the settings loader,
the result types and the error tree. Names are imported on first use, so that
`import safeguard.backends.sqlite` (or the CLI's --help) does not pay for Alembic and
the classifier.
"""

import sys
import types
from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "check": "api", "create_snapshot": "api", "current": "api", "effective_config": "api",
    "heads": "api",
    "history": "api", "journal": "api", "list_snapshots": "api", "locate_snapshots": "api",
    "migrate": "api",
    "offline_sql": "api", "plan": "api", "prune": "api", "recover": "api",
    "restore": "api", "show_snapshot": "api", "stamp": "api", "verify_snapshot": "api",
    "lint": "api", "new_revision": "api", "run_jobs_once": "api", "schedule_jobs": "api",
    "schedule_status": "api", "serve_schedule": "api",
    "diff": "api", "restore_beside": "api", "drop_beside": "api", "what_restore_discards": "api",
    "BesideRestore": "api", "Diff": "api", "Discards": "api",
    "Listing": "api", "Located": "api", "ManualRestore": "api", "Recovered": "api", "VerifyResult": "api",
    "Settings": "config", "load_settings": "config",
    "SafeguardError": "errors",
    "GuardResult": "guard",
    "CheckResult": "health", "HealthReport": "health",
    "Plan": "plan",
    "Precondition": "preconditions", "Preconditions": "preconditions",
    "Rehearsal": "api", "rehearse": "api", "rehearse_then_migrate": "api",
    "Snapshot": "store", "SnapshotStore": "store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'safeguard' has no attribute {name!r}")
    return getattr(import_module(f"safeguard.{module}"), name)


class _Package(types.ModuleType):
    """Three verbs share their name with a module of the package (`plan`, `journal`,
    `restore`). Loading a submodule makes the import system set the package's attribute
    of that name to the module, which would turn `safeguard.plan(...)` into a call of a
    module once anything had imported `safeguard.plan`. The verb keeps the name; the
    module stays importable (`import safeguard.plan`, `from safeguard.plan import Plan`)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
