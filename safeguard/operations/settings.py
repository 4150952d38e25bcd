"""`safeguard config`: the effective configuration, and the database env.py names."""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..errors import SafeguardError
from ..project import Project
from ..remote import Remote


def effective_config(settings: Settings, *, probe: bool = True) -> dict[str, Any]:
    """Every setting with its value and where it came from (passwords masked), and,
    unless ``probe`` is false, the database the project's env.py connects to."""
    rows = {key: {"value": value, "source": source} for key, value, source in settings.effective()}
    if settings.remote:
        # Where the remote's credentials come from (boto3's provider), never their values.
        try:
            source = Remote(settings).credential_source()
        except SafeguardError as exc:
            source = exc.message
        rows["remote_credentials"] = {"value": "(not shown)", "source": source}
    database: dict[str, Any] | None = None
    if probe:
        try:
            state = Project(settings).database(check_known=False)
            database = {"url": state.display_url, "dialect": state.dialect,
                        "heads": list(state.heads), "source": "env.py"}
        except SafeguardError as exc:
            database = {"error": exc.message}
    return {"settings": rows, "database": database}
