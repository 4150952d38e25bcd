"""Linting revision files: the classifier run over files or a script directory, with
no database, and the `revision` command that lints what it just wrote."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from alembic import command

from .alembic_output import alembic_output_to_stderr
from .classify import Classification, Declaration, classify_file
from .config import Settings
from .declarations import declared_helpers
from .errors import ConfigError, LintFailedError
from .project import Project
from .revisions import Direction


@dataclass(frozen=True)
class LintReport:
    """Every file's classification; `unacknowledged` is what `--strict` rejects (and
    `unacknowledged_may_fail` what `--strict-may-fail` rejects as well)."""

    classifications: tuple[Classification, ...]

    @property
    def unacknowledged(self) -> tuple[Classification, ...]:
        return tuple(c for c in self.classifications if c.is_destructive and not c.acknowledged)

    @property
    def unacknowledged_may_fail(self) -> tuple[Classification, ...]:
        return tuple(c for c in self.classifications
                     if c.may_fail and not c.is_destructive and not c.acknowledged)

    def to_dict(self) -> dict[str, Any]:
        """The contract of DESIGN.md: {"revisions": [{path, revision, verdict, findings}]}."""
        return {"revisions": [c.to_dict() for c in self.classifications]}


def revision_files(paths: Iterable[str | Path]) -> list[Path]:
    """The revision files named, directories expanded to their *.py files (sorted)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.py")
                                if p.name != "__init__.py" and "__pycache__" not in p.parts))
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(f"no such file or directory: {path}")
    return found


def lint(paths: Sequence[str | Path], *, dialect: str | None = None,
         direction: Direction = "upgrade", strict: bool = False,
         strict_may_fail: bool = False, declarations: Sequence[Declaration] = ()) -> LintReport:
    """Classify each file; LintFailedError under ``strict`` when any destructive or
    unknown revision is not acknowledged in its file, and under ``strict_may_fail``
    also when a revision that may fail on existing data (MF101/MF103/MF104/MF105) is not.
    May-fail findings alone do not fail ``strict``: the run's undo covers a failure.
    ``declarations`` are the project's declared helpers (see declared_helpers)."""
    report = LintReport(tuple(classify_file(p, direction=direction, dialect=dialect,
                                            declarations=declarations)
                              for p in revision_files(paths)))
    rejected = report.unacknowledged if strict or strict_may_fail else ()
    what = "destructive or unknown"
    if strict_may_fail:
        rejected += report.unacknowledged_may_fail
        what = "destructive, unknown or may-fail"
    if rejected:
        names = ", ".join(c.revision or Path(c.path).name for c in rejected)
        raise LintFailedError(
            f"{len(rejected)} {what} revision(s) not acknowledged: "
            f"{names} (add a module-level `safeguard = {{\"destructive\": True, \"reason\": ...}}` "
            "to each once reviewed)", report=report)
    return report


def script_locations(settings: Settings) -> list[Path]:
    """The project's version directories (read from the config, never by importing the
    revision files as Alembic's own loader would)."""
    project = Project(settings)
    # Alembic has parsed version_locations already, from alembic.ini or [tool.alembic].
    locations = project.config.get_version_locations_list()
    if not locations:
        return [Path(project.script.versions)]
    return [Path(p) for p in locations]


def new_revision(settings: Settings, message: str | None, *, autogenerate: bool = False,
                 head: str = "head", rev_id: str | None = None) -> list[Classification]:
    """Alembic's `revision` command, then the new file(s) linted on the spot. The
    project's declarations are checked first: a refusal writes nothing."""
    declarations = declared_helpers(settings)
    project = Project(settings)
    try:
        with project.environment(), alembic_output_to_stderr(), project.hosted():
            written = command.revision(project.config, message=message, autogenerate=autogenerate,
                                       head=head, rev_id=rev_id)
    except Exception as exc:  # Alembic's CommandError, or env.py failing under autogenerate
        raise ConfigError(f"alembic revision failed: {exc}") from exc
    scripts = written if isinstance(written, list) else [written]
    return [classify_file(s.path, declarations=declarations) for s in scripts if s is not None]
