"""The date parameters of the API: ISO 8601 dates or datetimes, UTC unless a zone is given."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from services.api.problems import bad_parameter


def parse_bound(parameter: str, value: str, *, end: bool) -> datetime:
    """The instant ``value`` names, as an aware datetime.

    A date (``2023-08-01``) means the start of that day in UTC, or for an end bound (``end``) its
    last microsecond (so both bounds are inclusive); a datetime without a zone is UTC.

    Raises:
        Problem: 422 naming ``parameter`` when ``value`` is neither.
    """
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime.combine(day, time(), UTC)
            return start + timedelta(days=1, microseconds=-1) if end else start
        moment = datetime.fromisoformat(value)
        return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: the instant is before year 1 or after 9999 in UTC
        raise bad_parameter(parameter, f"{value!r} is not an ISO 8601 date or datetime (years 1-9999 UTC)") from None


def parse_period(start_date: str | None, end_date: str | None, *, first: datetime | None = None,
                 last: datetime | None = None) -> tuple[datetime | None, datetime | None]:
    """``(start, end)`` of the inclusive period between the parameters ``start_date`` and
    ``end_date`` (:func:`parse_bound`); one not given (``None`` or empty) is ``first`` or ``last``.

    Raises:
        Problem: 422 naming the parameter that is not a date, or ``end_date`` when it is before
            ``start_date``.
    """
    start = parse_bound("start_date", start_date, end=False) if start_date else first
    end = parse_bound("end_date", end_date, end=True) if end_date else last
    if start is not None and end is not None and end < start:
        raise bad_parameter("end_date", "is before start_date")
    return start, end


def parse_range(start_date: str, end_date: str) -> tuple[datetime, datetime]:
    """``(start, end)`` of the inclusive period between the two parameters, both required.

    Raises:
        Problem: 422 as :func:`parse_period`, or naming a parameter that is empty.
    """
    start, end = parse_period(start_date, end_date)
    if start is None or end is None:
        raise bad_parameter("start_date" if start is None else "end_date", "is required")
    return start, end
