"""restore_target_time as PostgreSQL and pgBackRest take it: what `SELECT now()` prints
('2026-12-05 10:17:11.177333+00'), ISO 8601 with a `T` and `Z' or '+01:00', with or
without fractional seconds. The offset is required: a time without one would be read in
the server's time zone, which the operator may not know."""

import datetime
import re

FORM = re.compile(r"^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(\.\d{1,6})?\s*(Z|z|[+-]\d\d(?::?\d\d)?)$")


def parse_target_time(text):
    """The UTC datetime of a target time, None when it is not one."""
    found = FORM.match(str(text).strip())
    if not found:
        return None
    day, clock, fraction, offset = found.groups()
    if offset in ("Z", "z"):
        offset = "+00:00"
    elif len(offset) == 3:  # +HH, as PostgreSQL prints it
        offset += ":00"
    elif ":" not in offset:  # +HHMM
        offset = f"{offset[:3]}:{offset[3:]}"
    fraction = (fraction or ".0").ljust(7, "0")  # microseconds, six digits
    try:
        moment = datetime.datetime.fromisoformat(f"{day}T{clock}{fraction}{offset}")
    except ValueError:  # 2026-02-30, 25:00:00, an offset beyond 24 h
        return None
    return moment.astimezone(datetime.UTC)


def restore_target_epoch(text):
    """Seconds since the epoch of a target time (0 when it is not one)."""
    moment = parse_target_time(text)
    return moment.timestamp() if moment else 0


def restore_target_utc(text):
    """The target in one form both PostgreSQL and pgBackRest read: UTC with microseconds."""
    moment = parse_target_time(text)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f+00") if moment else ""


class FilterModule:
    def filters(self):
        return {"restore_target_epoch": restore_target_epoch, "restore_target_utc": restore_target_utc}
