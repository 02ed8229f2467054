"""Quiet hours: texts wait until morning in the recipient's time zone.

SMS_QUIET_HOURS is "HH:MM-HH:MM" (e.g. "21:00-08:00", which spans midnight), empty to send at
any hour. The recipient's zones are those libphonenumber's time-zone metadata gives the number
(phonenumbers.timezone.time_zones_for_number), used only when they agree: one zone, or several
names of one clock (an Italian mobile is Europe/Rome and Europe/Vatican, a British one
Europe/London and the Channel Islands' and Isle of Man's zones). A country or area spanning
zones that keep different times (most of the US mobile ranges are not split by zone, but
Canada's, Russia's and Brazil's often are) gives no answer, and the text goes at any hour,
since holding it for a guessed zone could hold it all day.
"""

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from phonenumbers import timezone as number_time_zones

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class QuietHours:
    """start, end: local times; quiet from start up to (not including) end, across midnight when
    end <= start."""

    start: time
    end: time

    def __str__(self):
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, moment: time) -> bool:
        """Whether the local time `moment` falls in the quiet hours."""
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


@functools.lru_cache(maxsize=8)
def parse_quiet_hours(text: str) -> QuietHours | None:
    """ "21:00-08:00" -> QuietHours(21:00, 08:00); "" -> None. Raises ImproperlyConfigured for
    anything else (a setting the texts depend on must not be silently ignored)."""
    if not text.strip():
        return None
    match = _RANGE.match(text)
    try:
        if match is None:
            raise ValueError
        start = time(int(match[1]), int(match[2]))
        end = time(int(match[3]), int(match[4]))
    except ValueError:
        raise ImproperlyConfigured(
            f"SMS_QUIET_HOURS={text!r} is not a range of two times, e.g. 21:00-08:00 (or empty for none)."
        ) from None
    if start == end:
        raise ImproperlyConfigured(f"SMS_QUIET_HOURS={text!r} starts and ends at the same time: leave it empty.")
    return QuietHours(start, end)


@functools.lru_cache(maxsize=4096)
def phone_time_zones(phone: str) -> tuple[ZoneInfo, ...]:
    """The time zones the metadata gives an E.164 number, in its order; () when it knows none."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = []
    for name in number_time_zones.time_zones_for_number(number):
        if name == number_time_zones.UNKNOWN_TIMEZONE:
            continue
        try:
            zones.append(ZoneInfo(name))
        except ZoneInfoNotFoundError:
            continue
    return tuple(zones)


@dataclass(frozen=True)
class QuietUntil:
    """until: when the quiet hours end (aware, UTC); detail: the reason, for people."""

    until: datetime
    detail: str


def quiet_hours_wait(*, phone: str, at: datetime) -> QuietUntil | None:
    """When a text to `phone` (E.164) due at `at` (aware) falls in the quiet hours of the
    recipient's zone: when it may go. None when it may go at `at` (no quiet hours set, the zone is
    not known, it is day there, or the number's zones disagree)."""
    quiet = parse_quiet_hours(settings.SMS_QUIET_HOURS)
    zones = phone_time_zones(phone) if quiet else ()
    if not zones:
        return None
    # Zones agree when they give the same answer: one clock under several names always does.
    ends = {_quiet_end(quiet, zone, at) for zone in zones}
    if len(ends) != 1 or (until := ends.pop()) is None:
        return None
    local = at.astimezone(zones[0])
    names = " or ".join(zone.key for zone in zones)
    return QuietUntil(
        until=until,
        detail=(
            f"Quiet hours ({quiet} in {names}, the time zone of {phone}): it is {local:%H:%M} there, "
            f"so the text waits until {until:%Y-%m-%d %H:%M} UTC."
        ),
    )


def _quiet_end(quiet: QuietHours, zone: ZoneInfo, at: datetime) -> datetime | None:
    """When the quiet hours `at` falls in end in `zone` (UTC), or None when `at` is not in them there."""
    local = at.astimezone(zone)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return None
    day = local.date() if local.time() < quiet.end else local.date() + timedelta(days=1)
    return datetime.combine(day, quiet.end, tzinfo=zone).astimezone(UTC)
