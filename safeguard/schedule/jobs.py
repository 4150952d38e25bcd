"""Job specs: a job is a named snapshot policy, `job.NAME = SPEC` (see the package
docstring for the grammar), parsed into a `Job` with its APScheduler trigger."""

from __future__ import annotations

import logging
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ..config import Settings
from ..errors import ConfigError

log = logging.getLogger("safeguard.schedule")


_KINDS = ("cron", "every", "on-demand")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DURATION = re.compile(r"^(?:\d+[smhd])+$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: Crontab's weekday numbers: Sunday is 0 (and 7).
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_EXAMPLES = "e.g. 'cron 0 3 * * *; verify; prune', 'every 30m; prune' or 'on-demand'"


# -- the job: a named snapshot policy --------------------------------------------------

@dataclass(frozen=True)
class Job:
    """One named snapshot policy: when it runs, and what follows each snapshot."""

    name: str
    kind: str  # "cron" | "every" | "on-demand"
    expression: str = ""  # the cron fields, or the duration; "" for on-demand
    timezone: str = "UTC"
    verify: bool = False
    prune: bool = False

    @property
    def scheduled(self) -> bool:
        """True for jobs with a timer (on-demand jobs run only when named)."""
        return self.kind != "on-demand"

    @property
    def spec(self) -> str:
        """The canonical spec: what the job store keeps and what reconciliation compares."""
        parts = [f"{self.kind} {self.expression}".strip()]
        if self.timezone != "UTC":
            parts.append(f"tz {self.timezone}")
        parts += [word for word, on in (("verify", self.verify), ("prune", self.prune)) if on]
        return "; ".join(parts)

    def trigger(self) -> BaseTrigger:
        """The APScheduler trigger (the spec was validated when it was parsed)."""
        tz = zoneinfo.ZoneInfo(self.timezone)
        if self.kind == "every":
            return IntervalTrigger(seconds=parse_duration(self.expression), timezone=tz)
        if self.kind == "cron":
            return _cron_trigger(self.expression, tz)
        raise ValueError(f"job {self.name} is on-demand: it has no trigger")


def parse_job(name: str, spec: str, *, where: str | None = None) -> Job:
    """Parse a job SPEC (see the module docstring), or raise one ConfigError naming
    the job (``where``: how the user wrote it, ``job.NAME`` by default)."""
    where = where or f"job.{name}"

    def bad(problem: str) -> ConfigError:
        return ConfigError(f"{where}: {problem} in {spec.strip()!r} ({_EXAMPLES})")

    if not _NAME.match(name):
        raise ConfigError(f"{where}: a job name is letters, digits, '_', '-' and '.'")
    clauses = [" ".join(c.split()) for c in spec.split(";")]
    if not clauses[0]:
        raise bad("no trigger")
    kind, _, expression = clauses[0].partition(" ")
    kind = kind.lower()
    if kind not in _KINDS:
        raise bad(f"unknown trigger {kind!r} (expected cron, every or on-demand)")
    options: dict[str, Any] = {}
    for clause in clauses[1:]:
        word, _, value = clause.partition(" ")
        word = word.lower()
        if word in ("verify", "prune") and not value:
            options[word] = True
        elif word == "tz" and value:
            options["timezone"] = value
        elif clause:
            raise bad(f"unknown option {clause!r} (expected verify, prune or tz ZONE)")
    if kind == "on-demand" and expression:
        raise bad("on-demand takes no argument")
    job = Job(name, kind, expression.lower() if kind == "every" else expression, **options)
    try:
        tz = zoneinfo.ZoneInfo(job.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise bad(f"unknown timezone {job.timezone!r}") from exc
    if kind == "every":
        if not _DURATION.match(job.expression) or parse_duration(job.expression) <= 0:
            raise bad(f"{expression or 'nothing'!r} is not a duration (30s, 15m, 1h30m, 1d)")
    elif kind == "cron":
        try:
            _cron_trigger(expression, tz)
        except ValueError as exc:
            raise bad(f"bad cron expression: {exc}") from exc
    return job


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``30s``, ``15m``, ``1h30m`` or ``1d``."""
    return sum(int(n) * _UNIT_S[unit] for n, unit in re.findall(r"(\d+)([smhd])", text))


def configured_jobs(settings: Settings) -> list[Job]:
    """The `job.NAME = SPEC` entries of the configuration, parsed, in name order."""
    return [parse_job(name, spec) for name, spec in sorted(settings.jobs.items())]


def command_line_job(*, every: str | None = None, cron: str | None = None, tz: str | None = None,
                     verify: bool = False, prune: bool = False, name: str = "adhoc") -> Job:
    """A job given by flags (`--every 30m` or `--cron '0 3 * * *'`), validated exactly
    as a configured one."""
    if (every is None) == (cron is None):
        raise ConfigError("give one of --every DURATION or --cron 'EXPR'")
    flag, value = ("--every", every) if every is not None else ("--cron", cron or "")
    if ";" in value or (tz and ";" in tz):
        raise ConfigError(f"{flag}: ';' is not allowed in {value!r}")
    parts = [f"{'every' if every is not None else 'cron'} {value}"]
    parts += [f"tz {tz}"] if tz else []
    parts += [w for w, on in (("verify", verify), ("prune", prune)) if on]
    return parse_job(name, "; ".join(parts), where=flag)


def _cron_trigger(expression: str, tz: zoneinfo.ZoneInfo) -> CronTrigger:
    """A CronTrigger that means what the expression means in crontab.

    APScheduler 3 differs from crontab twice: it counts weekdays from Monday = 0, and it
    ANDs a restricted day-of-month with a restricted day-of-week where crontab ORs
    them. The weekdays are rewritten as names; the second case is refused rather than
    run on the wrong days.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"{len(fields)} fields, expected 5 (minute hour day month weekday)")
    minute, hour, day, month, weekday = fields
    if not day.startswith("*") and not weekday.startswith("*"):
        raise ValueError("both day-of-month and day-of-week are restricted (crontab runs "
                         "when either matches); use two jobs")
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=_crontab_weekdays(weekday), timezone=tz)


def _crontab_weekdays(field: str) -> str:
    """A crontab weekday field (0 or 7 = Sunday, names, ranges, steps, lists) as a list
    of day names, which APScheduler reads unambiguously."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        span, _, step = item.partition("/")
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, _, last = span.partition("-")
            low, high = _weekday(first), _weekday(last)
        else:
            low = _weekday(span)
            high = 6 if step else low  # crontab: "1/2" runs from 1 to the end of the week
        stride = int(step) if step.isdigit() else 0 if step else 1
        if stride < 1 or low > high:
            raise ValueError(f"bad weekday {item!r}")
        days.update(d % 7 for d in range(low, high + 1, stride))
    return ",".join(_WEEKDAYS[d] for d in sorted(days))


def _weekday(token: str) -> int:
    token = token.lower()
    if token in _WEEKDAYS:
        return _WEEKDAYS.index(token)
    if token.isdigit() and int(token) <= 7:
        return int(token)
    raise ValueError(f"bad weekday {token!r} (0-7 or sun..sat)")
