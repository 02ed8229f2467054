"""Phone numbers a text can go to: E.164, read the way the directory reads them."""

import phonenumbers
from django.conf import settings

from workflows.salesforce.values import InvalidValue, parse_phone


def sms_phone_number(text: str) -> str:
    """A phone number as people write it -> E.164 for texting (``"(415) 555-0100"`` ->
    ``"+14155550100"``), numbers without a country code read in DEFAULT_PHONE_REGION.

    Raises InvalidValue (a ValueError saying what was wrong) when the text is not a valid number,
    or has an extension: an extension reaches a desk phone behind a switchboard, never a text.
    """
    number = parse_phone(text, default_region=settings.DEFAULT_PHONE_REGION)
    if ";ext=" in number:
        raise InvalidValue(f"{text.strip()!r} has an extension: texts can only go to the number itself.")
    return number


def sms_sender_number(text: str) -> str:
    """The sender of an inbound text -> E.164 (``"+15555550123"``).

    Laxer than `sms_phone_number`: the carrier says who sent the text, and libphonenumber's
    metadata may not know the range yet (or it is a fictional 555 number), so a number whose
    length fits its country is enough. Raises InvalidValue when it is not a phone number at all.
    """
    value = text.strip()
    try:
        number = phonenumbers.parse(value, settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        raise InvalidValue(f"{value[:40]!r} is not a phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
