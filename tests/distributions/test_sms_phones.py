"""Phone numbers for texts: E.164, numbers without a country code read in DEFAULT_PHONE_REGION."""

import pytest

from distributions.channels.phones import sms_phone_number, sms_sender_number
from workflows.salesforce.values import InvalidValue


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("(415) 555-0100", "+14155550100"),
        ("415.555.0100", "+14155550100"),
        ("+1 415 555 0100", "+14155550100"),
        ("+44 20 7946 0958", "+442079460958"),
        ("011 44 20 7946 0958", "+442079460958"),  # the US international prefix
    ],
)
def test_it_writes_numbers_in_e164(written, e164):
    assert sms_phone_number(written) == e164


def test_the_default_region_is_a_setting(settings):
    settings.DEFAULT_PHONE_REGION = "IT"
    assert sms_phone_number("06 6988 4857") == "+390669884857"


@pytest.mark.parametrize("written", ["", "n/a", "12", "+1 111 555 0100"])
def test_it_refuses_what_is_not_a_valid_number(written):
    with pytest.raises(InvalidValue, match="not a valid phone number"):
        sms_phone_number(written)


def test_it_refuses_an_extension():
    with pytest.raises(InvalidValue, match="extension"):
        sms_phone_number("+1 415 555 0100 ext. 12")


def test_a_sender_needs_only_a_possible_number():
    # The carrier says who sent it: a fictional 555 number is still that sender.
    assert sms_sender_number("+15555550123") == "+15555550123"
    assert sms_sender_number("(555) 555-0123") == "+15555550123"
    with pytest.raises(InvalidValue):
        sms_sender_number("+1 555")
    with pytest.raises(InvalidValue):
        sms_sender_number("alpha-sender")
