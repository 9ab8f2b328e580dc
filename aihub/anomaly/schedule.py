"""When a monitor runs by itself, and who hears about what it finds (pure: no database, no network).

A monitor's **schedule** (``MonitorSchedule``) is one of

* ``manual``: only "Run now", workflow steps and (with ``after_sync``) syncs;
* ``hourly`` at minute ``minute``;
* ``daily`` at ``at`` (``"HH:MM"``);
* ``weekly`` on ``weekday`` (0 = Monday) at ``at``;
* ``cron``: a five-field cron expression (``"0 6 * * 1-5"``),

in ``timezone`` (an IANA name; UTC by default). ``after_sync`` also runs the
monitor after each sync of its dataset's data source that made a new version.
Cron expressions are read by croniter (the library the workflow scheduler uses)
and described in plain English by cron-descriptor when it is installed.

**Alerting** (``AlertSettings``): e-mail recipients and/or one webhook URL,
the lowest ``min_severity`` that alerts, ``digest`` (``none``: right away,
``hourly`` or ``daily`` at ``digest_at``: one message with everything since
the last one) and ``quiet_hours`` (``{"start": "22:00", "end": "07:00"}`` in
``timezone``: alerts wait until the quiet hours end, then go out together).
An **incident** is an ongoing problem on one series (monitor, metric, slice):
anomalies within ``incident_gap`` periods of the previous one belong to the
same incident, and an incident alerts once (when it first reaches
``min_severity``), never once per period.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from aihub.anomaly.severity import SEVERITIES
from aihub.errors import ValidationError
from aihub.userconfig import UserConfig, parse

__all__ = [
    "SCHEDULE_KINDS",
    "AlertSettings",
    "MonitorSchedule",
    "alert_due_at",
    "describe_schedule",
    "next_run",
    "parse_alerting",
    "parse_schedule",
    "severity_at_least",
]

SCHEDULE_KINDS: tuple[str, ...] = ("manual", "hourly", "daily", "weekly", "cron")
DIGESTS: tuple[str, ...] = ("none", "hourly", "daily")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_RECIPIENTS = 20


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'") from None


def _hhmm(value: str) -> tuple[int, int]:
    m = _HHMM.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a time of day as HH:MM (00:00 to 23:59)")
    return int(m.group(1)), int(m.group(2))


class MonitorSchedule(UserConfig):
    """When a monitor runs by itself.

    Attributes
    ----------
    every : {"manual", "hourly", "daily", "weekly", "cron"}, default "manual"
    at : str, default "06:00"
        Time of day (``HH:MM``) of daily and weekly runs.
    minute : int, default 0
        Minute past the hour of hourly runs.
    weekday : int, default 0
        Day of weekly runs, 0 = Monday.
    cron : str, optional
        Five-field cron expression; required for ``every="cron"``.
    timezone : str, default "UTC"
    after_sync : bool, default True
        Also run after each sync that made a new version of the dataset.

    Raises
    ------
    aihub.errors.ValidationError
        Through :func:`parse_schedule`, ``field`` = ``"schedule.<attribute>"``.
    """

    model_config = ConfigDict(frozen=True)

    every: Literal[SCHEDULE_KINDS] = "manual"  # type: ignore[valid-type]
    at: str = "06:00"
    minute: int = Field(default=0, ge=0, le=59)
    weekday: int = Field(default=0, ge=0, le=6)
    timezone: str = "UTC"
    after_sync: bool = True
    cron: str | None = Field(default=None, max_length=100, validate_default=True)

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        _hhmm(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        _zone(value)
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("every") != "cron":
            return value
        if not value:
            raise ValueError("a cron schedule needs 'cron', e.g. '0 6 * * 1-5' (06:00 on weekdays)")
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a five-field cron expression such as '0 6 * * 1-5'")
        return value

    def expression(self) -> str | None:
        """The cron expression of the schedule (None for manual)."""
        h, m = _hhmm(self.at)
        return {"manual": None, "hourly": f"{self.minute} * * * *", "daily": f"{m} {h} * * *",
                "weekly": f"{m} {h} * * {(self.weekday + 1) % 7}", "cron": self.cron}[self.every]


class QuietHours(UserConfig):
    """``{"start": "22:00", "end": "07:00"}``: no alerts between them (in the alerting time zone)."""

    model_config = ConfigDict(frozen=True)

    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        _hhmm(value)
        return value

    @model_validator(mode="after")
    def _differ(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours must start and end at different times")
        return self


class AlertSettings(UserConfig):
    """Who hears about a monitor's incidents, and when.

    Attributes
    ----------
    email : list of str
        Recipients (at most 20).
    webhook_url : str, optional
        An ``http(s)`` URL; its host must be allowed by ``AIHUB_ALLOWED_HOSTS``
        (checked when saved and again before every delivery).
    min_severity : {"low", "medium", "high", "critical"}, default "high"
    digest : {"none", "hourly", "daily"}, default "none"
    digest_at : str, default "08:00"
        Time of the daily digest.
    quiet_hours : QuietHours, optional
    timezone : str, default "UTC"
    incident_gap : int, default 3
        Periods without an anomaly after which the next one on the series is a new incident.
    """

    model_config = ConfigDict(frozen=True)

    email: tuple[str, ...] = ()
    webhook_url: str | None = Field(default=None, max_length=2000)
    min_severity: Literal[SEVERITIES] = "high"  # type: ignore[valid-type]
    digest: Literal[DIGESTS] = "none"  # type: ignore[valid-type]
    digest_at: str = "08:00"
    quiet_hours: QuietHours | None = None
    timezone: str = "UTC"
    incident_gap: int = Field(default=3, ge=1, le=1000)

    @field_validator("email", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v for v in re.split(r"[,;\s]+", value) if v]
        return value

    @field_validator("email")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from aihub.notify import check_recipients

        if not value:
            return ()
        try:
            return tuple(check_recipients(list(value), field="alerting.email"))
        except ValidationError as exc:
            raise ValueError(exc.message) from None

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not re.match(r"^https?://[^\s/]+", value, flags=re.IGNORECASE):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("digest_at")
    @classmethod
    def _digest_at(cls, value: str) -> str:
        _hhmm(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        _zone(value)
        return value

    @property
    def active(self) -> bool:
        """Whether anyone is notified."""
        return bool(self.email or self.webhook_url)

    def channels(self) -> list[tuple[str, str]]:
        """``(channel, target)`` pairs: ``("email", "a@x.com, b@x.com")`` and ``("webhook", url)``."""
        out = [("email", ", ".join(self.email))] if self.email else []
        return out + ([("webhook", self.webhook_url)] if self.webhook_url else [])


def parse_schedule(raw: Any) -> MonitorSchedule:
    """Validate a schedule mapping (None: manual).

    Raises
    ------
    aihub.errors.ValidationError
        ``field`` = ``"schedule.<attribute>"``, message with the allowed values.
    """
    return _parse(MonitorSchedule, raw, "Monitor schedule", "schedule")


def parse_alerting(raw: Any) -> AlertSettings:
    """Validate alert settings (None: nobody is notified).

    Raises
    ------
    aihub.errors.ValidationError
        ``field`` = ``"alerting.<attribute>"``.
    """
    return _parse(AlertSettings, raw, "Alert settings", "alerting")


def _parse(model: type[UserConfig], raw: Any, what: str, prefix: str) -> Any:
    """:func:`aihub.userconfig.parse` with ``field`` under ``prefix`` (``schedule.at``)."""
    try:
        return parse(model, {} if raw is None else raw, what=what)
    except ValidationError as exc:
        field = f"{prefix}.{exc.field}" if exc.field else prefix
        raise ValidationError(exc.message, field=field, details=exc.details) from None


def _aware(now: datetime) -> datetime:
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now


def next_run(schedule: MonitorSchedule, after: datetime) -> datetime | None:
    """The first scheduled time strictly after ``after`` (UTC, aware), or None for a manual schedule.

    Parameters
    ----------
    after : datetime
        Naive values are UTC.
    """
    expr = schedule.expression()
    if expr is None:
        return None
    tz = _zone(schedule.timezone)
    local = _aware(after).astimezone(tz)
    return croniter(expr, local).get_next(datetime).astimezone(UTC)


def describe_schedule(schedule: MonitorSchedule) -> str:
    """The schedule in words: "Every day at 06:00 (UTC)", "Every Monday at 06:00 (Europe/Berlin)", ...

    A cron schedule is described by cron-descriptor when installed, else shown as the expression.
    """
    tz = f" ({schedule.timezone})"
    sync = ", and after each sync of its data" if schedule.after_sync else ""
    if schedule.every == "manual":
        return "Only when run by hand or by a workflow" + (", and after each sync of its data" if
                                                              schedule.after_sync else "")
    if schedule.every == "hourly":
        return f"Every hour at minute {schedule.minute:02d}{sync}"
    if schedule.every == "daily":
        return f"Every day at {schedule.at}{tz}{sync}"
    if schedule.every == "weekly":
        return f"Every {WEEKDAYS[schedule.weekday]} at {schedule.at}{tz}{sync}"
    try:
        from cron_descriptor import get_description

        words = get_description(schedule.cron)
    except Exception:  # noqa: BLE001 - words are a nicety; the expression itself is exact
        words = f"cron {schedule.cron}"
    return f"{words}{tz}{sync}"


def severity_at_least(severity: str, minimum: str) -> bool:
    """Whether ``severity`` is at or above ``minimum`` (both of :data:`SEVERITIES`)."""
    if severity not in SEVERITIES:
        return False
    return SEVERITIES.index(severity) >= SEVERITIES.index(minimum)


def _in_quiet(q: QuietHours, local: datetime) -> datetime | None:
    """End of the quiet period ``local`` falls in (local time), or None."""
    sh, sm = _hhmm(q.start)
    eh, em = _hhmm(q.end)
    start = local.replace(hour=sh, minute=sm, second=0, microsecond=0)
    end = local.replace(hour=eh, minute=em, second=0, microsecond=0)
    if start < end:  # same day, e.g. 12:00-14:00
        return end if start <= local < end else None
    # over midnight, e.g. 22:00-07:00
    if local >= start:
        return end + timedelta(days=1)
    if local < end:
        return end
    return None


def alert_due_at(settings: AlertSettings, now: datetime) -> datetime:
    """When an alert raised at ``now`` goes out: now, the next digest time, or the end of the quiet hours.

    Returns
    -------
    datetime
        UTC, aware; never before ``now``.
    """
    tz = _zone(settings.timezone)
    local = _aware(now).astimezone(tz)
    due = local
    if settings.digest == "hourly":
        due = (local + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    elif settings.digest == "daily":
        h, m = _hhmm(settings.digest_at)
        due = local.replace(hour=h, minute=m, second=0, microsecond=0)
        if due <= local:
            due += timedelta(days=1)
    if settings.quiet_hours is not None:
        end = _in_quiet(settings.quiet_hours, due)
        if end is not None:
            due = end
    return due.astimezone(UTC)
