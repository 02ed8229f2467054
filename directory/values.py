"""A contact's email and phone as the directory stores them, from the text people type.

Every way into the directory reads them here: the REST API, the contact admin, and workflow
tasks (whose Salesforce value parsers re-export `InvalidValue` and `parse_phone`). Pure Python:
no models, so the layers above import it freely.
"""

import phonenumbers
from django.conf import settings
from email_validator import EmailNotValidError, validate_email

# The longest phone a contact holds: E.164 (at most 16 characters) with an RFC 3966 extension.
PHONE_MAX_LENGTH = 32


class InvalidValue(ValueError):
    """The text is not a value of the type asked for; the message says which forms are accepted."""


def parse_phone(text: str, *, default_region: str) -> str:
    """A phone number as people write it -> E.164 (``+14155550100``), with its extension as the
    RFC 3966 parameter when it has one (``+1 415 555 0100 ext. 12`` -> ``+14155550100;ext=12``).

    `default_region` (ISO 3166 alpha-2, e.g. ``"US"``) is the country of numbers written without
    a country code. Raises InvalidValue when the text is not a valid number (libphonenumber's
    metadata decides, e.g. area code 111 does not exist in North America).
    """
    value = text.strip()
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidValue(
            f"{value!r} is not a valid phone number (numbers without a country code are read as {default_region}; "
            "write others with theirs, e.g. +44 20 7946 0958)."
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164


def contact_email(text: str) -> str:
    """An email address as a contact holds it: normalized by email-validator (the domain in lower
    case, the local part as written), or "" for none. Raises InvalidValue when it is not one."""
    if not text.strip():
        return ""
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidValue(f"Not a valid email address: {error}") from None


def contact_phone(text: str) -> str:
    """A phone number as a contact holds it: E.164 (`parse_phone`), numbers without a country code
    read in DEFAULT_PHONE_REGION, or "" for none. Raises InvalidValue when it is not a valid
    number or is too long to store."""
    if not text.strip():
        return ""
    phone = parse_phone(text, default_region=settings.DEFAULT_PHONE_REGION)
    if len(phone) > PHONE_MAX_LENGTH:
        raise InvalidValue(f"{phone} is longer than the {PHONE_MAX_LENGTH} characters a phone holds.")
    return phone
