"""Human-readable explanation of a :class:`Deadline`: clause, rule, start, skips, extension.

Rendered lazily from the deadline's inputs (replaying the rules), so computing a million
deadlines does not build a million lists of strings. Lines are plain English sentences meant
for the DPO's dashboard, notices and evidence bundles.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from .calendars import WEEKDAY_NAMES, Calendar
from .deadline import Deadline
from .durations import DurationUnit
from .rules import BusinessHoursTrace, add_months, walk_business_hours
from .zones import isoformat_utc

__all__ = ["explain"]

_MAX_LISTED = 12  # closed days listed one by one before summarising


def _day(day: date) -> str:
    return f"{day.isoformat()} ({WEEKDAY_NAMES[day.weekday()]})"


def _local(value: datetime) -> str:
    offset = value.strftime("%z")
    return f"{value:%Y-%m-%d %H:%M:%S} UTC{offset[:3]}:{offset[3:]}"


def _hours(microseconds: int) -> str:
    minutes, rest = divmod(microseconds, 60_000_000)
    text = f"{minutes // 60}h{minutes % 60:02d}"
    return text + (f" and {rest / 1_000_000:g}s" if rest else "")


def _skipped(calendar: Calendar, after: date, until: date, days_per_week: int) -> list[str]:
    """Lines for the days in ``(after, until]`` that were not counted, with reasons."""
    weekend, closed = calendar.skipped_between(after, until, days_per_week)
    lines = []
    if weekend:
        kind = "Saturdays and Sundays" if days_per_week == 5 else "Sundays"
        lines.append(f"Skipped {weekend} weekend day(s) ({kind}).")
    for day, reason in closed[:_MAX_LISTED]:
        lines.append(f"Skipped {_day(day)}, {reason}.")
    if len(closed) > _MAX_LISTED:
        lines.append(f"Skipped {len(closed) - _MAX_LISTED} more public holiday(s)/closing day(s).")
    return lines


def _closed_words(calendar: Calendar) -> str:
    extra = " and the contract's closing days" if calendar.closing_days else ""
    return f"public holidays of calendar {calendar.spec}{extra}"


def explain(deadline: Deadline) -> list[str]:
    """The explanation lines of ``deadline`` (see module docstring)."""
    dl = deadline
    cal, zone, unit, n = dl.calendar, dl.zone, dl.duration.unit, dl.duration.amount
    start_local = dl.start.astimezone(zone)
    event_day = start_local.date()
    lines: list[str] = []
    if dl.clause:
        lines.append(f"Clause: {dl.clause}.")

    if unit is DurationUnit.HOURS:
        lines.append(
            f"Rule: {dl.duration} of elapsed time from the event: an exact duration in absolute "
            "time, so daylight-saving changes neither add nor remove hours."
        )
    elif unit is DurationUnit.CALENDAR_DAYS:
        lines.append(
            f"Rule: {dl.duration} (calendar days, Code de procédure civile art. 641): the day of "
            "the event is not counted; the period ends at 24:00 on its last day."
        )
    elif unit is DurationUnit.MONTHS:
        lines.append(
            f"Rule: {dl.duration} (Code de procédure civile art. 641): ends on the day of the "
            "last month bearing the same number as the event's day, or on that month's last "
            "day when it has no such day, at 24:00."
        )
    elif unit is DurationUnit.BUSINESS_DAYS:
        lines.append(
            f"Rule: {dl.duration} (jours ouvrés: Monday to Friday except {_closed_words(cal)}); "
            "the event's day is not counted; the period ends at 24:00 on the last one."
        )
    elif unit is DurationUnit.WORKING_DAYS:
        lines.append(
            f"Rule: {dl.duration} (jours ouvrables: Monday to Saturday except "
            f"{_closed_words(cal)}); the event's day is not counted; the period ends at 24:00 "
            "on the last one."
        )
    else:
        lines.append(
            f"Rule: {dl.duration} (heures ouvrées) counted inside the windows {dl.business_hours} "
            f"({dl.tz} wall-clock time) on business days (Monday to Friday except "
            f"{_closed_words(cal)}); time outside the windows is not counted."
        )
    lines.append(
        f"Event: {_local(start_local)} in {dl.tz} = {isoformat_utc(dl.start)}; "
        f"counted in {dl.tz}, calendar {cal}."
    )

    if unit is DurationUnit.HOURS:
        nominal_local = dl.nominal_due.astimezone(zone)
        line = f"Counting: event + {n} h = {_local(nominal_local)}"
        if nominal_local.utcoffset() != start_local.utcoffset():
            line += " (the UTC offset changed in between: daylight saving)"
        lines.append(line + ".")
    elif unit is DurationUnit.BUSINESS_HOURS:
        lines.extend(_explain_business_hours(dl, start_local))
    else:
        nominal_day = dl.nominal_due.astimezone(zone).date()
        first = event_day + timedelta(days=1)
        if unit is DurationUnit.MONTHS:
            target = add_months(event_day, n)
            note = "" if target.day == event_day.day else f" (no day {event_day.day} that month)"
            lines.append(f"Counting: {_day(event_day)} + {dl.duration} → {_day(target)}{note}.")
        else:
            per_week = {DurationUnit.BUSINESS_DAYS: 5, DurationUnit.WORKING_DAYS: 6}.get(unit, 7)
            if per_week != 7:
                first = date.fromordinal(cal.add_open_days(event_day.toordinal(), 1, per_week))
            lines.append(
                f"Counting: the event's day {event_day.isoformat()} is not counted; day 1 is "
                f"{_day(first)}, day {n} is {_day(nominal_day)}."
            )
            if per_week != 7:
                lines.extend(_skipped(cal, event_day, nominal_day, per_week))

    lines.extend(_explain_extension(dl))
    if dl.end_of_day:
        lines.append(
            f"Deadline: {dl.display}, i.e. on time until {isoformat_utc(dl.due)} "
            "(the last instant of that local day)."
        )
    else:
        lines.append(f"Deadline: {dl.display}, i.e. {isoformat_utc(dl.due)}.")
    return lines


def _clock(time_us: int) -> str:
    minutes, rest = divmod(time_us, 60_000_000)
    text = f"{minutes // 60:02d}:{minutes % 60:02d}"
    return text if not rest else f"{text}:{rest / 1_000_000:09.6f}".rstrip("0").rstrip(".")


def _explain_business_hours(dl: Deadline, start_local: datetime) -> list[str]:
    assert dl.business_hours is not None
    cal, hours = dl.calendar, dl.business_hours
    trace = BusinessHoursTrace()
    event_ord = start_local.toordinal()
    event_day = date.fromordinal(event_ord)
    event_us = (
        (start_local.hour * 60 + start_local.minute) * 60 + start_local.second
    ) * 1_000_000 + start_local.microsecond
    total = dl.duration.amount * 3_600_000_000
    walk_business_hours(event_ord, event_us, total, hours, cal, trace)
    assert trace.counting_start is not None and trace.first_day is not None
    assert trace.last_day is not None
    first_day, last_day = date.fromordinal(trace.first_day), date.fromordinal(trace.last_day)
    lines = []
    if trace.first_day == event_ord and trace.counting_start == event_us:
        lines.append("Counting starts at the event, which falls inside a business-hours window.")
    else:
        reason = cal.skip_reason(event_day, 5)
        why = (
            f"{_day(event_day)} is not a business day, {reason}"
            if reason
            else "the event falls outside business hours"
        )
        lines.append(
            f"Counting starts at the next window opening, {first_day.isoformat()} "
            f"{_clock(trace.counting_start)} local: {why}."
        )
        if first_day != event_day:
            lines.extend(_skipped(cal, event_day, first_day - timedelta(days=1), 5))
    if first_day == last_day:
        lines.append(f"Counted {_hours(total)} on {_day(first_day)}.")
        return lines
    per_day = hours.us_per_day
    last_counted = total - trace.first_day_counted - trace.full_days * per_day
    counted = f"Counted {_hours(trace.first_day_counted)} on {_day(first_day)}"
    if trace.full_days:
        counted += f", {_hours(per_day)} on each of {trace.full_days} full business day(s)"
    lines.append(f"{counted}, then {_hours(last_counted)} on {_day(last_day)}.")
    lines.extend(_skipped(cal, first_day, last_day - timedelta(days=1), 5))
    return lines


def _explain_extension(dl: Deadline) -> list[str]:
    if not dl.extend:
        return [
            "Extension (art. 642) not applied for this clock: an end on a weekend or public "
            "holiday is not moved."
        ]
    nominal_day = dl.nominal_due.astimezone(dl.zone).date()
    if not dl.extended:
        return [
            f"Extension (art. 642) enabled: the period ends on {_day(nominal_day)}, a working "
            "day, so it is not moved."
        ]
    new_day = dl.due.astimezone(dl.zone).date()
    reason = dl.calendar.skip_reason(nominal_day, 5)
    lines = [
        f"Extension (art. 642): the period would end on {_day(nominal_day)}, not a working day "
        f"({reason}), so it is extended to the end of the next working day, {_day(new_day)} 24:00."
    ]
    lines.extend(_skipped(dl.calendar, nominal_day, new_day - timedelta(days=1), 5))
    return lines
