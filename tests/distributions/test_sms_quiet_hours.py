"""Quiet hours: parsed from SMS_QUIET_HOURS, applied in the time zone a number's metadata gives."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured

from distributions.services.quiet_hours import QuietHours, parse_quiet_hours, phone_time_zones, quiet_hours_wait


def test_a_range_is_parsed_and_may_span_midnight():
    quiet = parse_quiet_hours("21:00-08:00")
    assert quiet == QuietHours(time(21, 0), time(8, 0))
    assert [quiet.contains(time(h)) for h in (20, 21, 23, 0, 7, 8, 12)] == [False, True, True, True, True, False, False]
    day = parse_quiet_hours("12:00 - 13:30")
    assert [day.contains(moment) for moment in (time(11, 59), time(12), time(13, 29), time(13, 30))] == [
        False,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize("text", ["21:00", "9pm-8am", "21:00-24:00", "08:00-08:00"])
def test_anything_else_is_refused_with_the_setting_named(text):
    with pytest.raises(ImproperlyConfigured, match="SMS_QUIET_HOURS"):
        parse_quiet_hours(text)


def test_empty_means_no_quiet_hours(settings):
    settings.SMS_QUIET_HOURS = ""
    assert parse_quiet_hours("") is None
    assert quiet_hours_wait(phone="+14155550100", at=datetime(2026, 1, 15, 6, 0, tzinfo=UTC)) is None


def test_a_number_gets_the_zones_its_metadata_gives():
    assert [zone.key for zone in phone_time_zones("+14155550100")] == ["America/Los_Angeles"]
    assert [zone.key for zone in phone_time_zones("+33612345678")] == ["Europe/Paris"]
    assert len(phone_time_zones("+79161234567")) > 1  # a Russian mobile: several zones
    assert phone_time_zones("+999123") == ()


@pytest.mark.parametrize(
    "phone, zone",
    [
        ("+393331234567", "Europe/Rome"),  # Europe/Rome or Europe/Vatican
        ("+447911123456", "Europe/London"),  # or Europe/Guernsey, Europe/Isle_of_Man, Europe/Jersey
        ("+358401234567", "Europe/Helsinki"),  # or Europe/Mariehamn
    ],
)
def test_a_number_whose_zones_are_one_clock_waits_for_the_morning_there(settings, phone, zone):
    settings.SMS_QUIET_HOURS = "21:00-08:00"
    # 23:30 UTC on 15 January: past midnight in Rome and Helsinki, 23:30 in London.
    wait = quiet_hours_wait(phone=phone, at=datetime(2026, 1, 15, 23, 30, tzinfo=UTC))
    morning = datetime(2026, 1, 16, 8, 0, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    assert wait is not None and wait.until == morning
    assert zone in wait.detail
    assert quiet_hours_wait(phone=phone, at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC)) is None


def test_a_number_without_one_zone_is_texted_at_any_hour(settings):
    settings.SMS_QUIET_HOURS = "21:00-08:00"
    assert quiet_hours_wait(phone="+79161234567", at=datetime(2026, 1, 15, 23, 0, tzinfo=UTC)) is None


def test_the_wait_ends_at_the_morning_in_the_recipients_zone_across_a_dst_change(settings):
    settings.SMS_QUIET_HOURS = "21:00-08:00"
    # Paris leaves summer time in the night of 24-25 October 2026: 08:00 there is 07:00 UTC.
    wait = quiet_hours_wait(phone="+33612345678", at=datetime(2026, 10, 24, 20, 30, tzinfo=UTC))
    assert wait.until == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)
    assert "Quiet hours (21:00-08:00 in Europe/Paris, the time zone of +33612345678)" in wait.detail
    # Just after midnight there: the same morning.
    assert quiet_hours_wait(phone="+33612345678", at=datetime(2026, 1, 15, 0, 30, tzinfo=UTC)).until == datetime(
        2026, 1, 15, 7, 0, tzinfo=UTC
    )
