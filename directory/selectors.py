"""Reads of the contact directory."""

from django.db.models.functions import Lower

from directory.models import Contact, DedupeKey, Directory

DEFAULT_DEDUPE_KEYS = (DedupeKey.EMAIL,)


def directory_dedupe_keys(directory: Directory) -> tuple[str, ...]:
    keys = tuple(rule.key for rule in directory.dedupe_rules.all())
    return keys or DEFAULT_DEDUPE_KEYS


def _lookup(key: str, *, email: str, phone: str, external_data_reference: str, first_name: str, last_name: str):
    """The filter one dedupe rule applies, or None when the incoming contact lacks its values."""
    if key == DedupeKey.EMAIL and email:
        return {"email_lower": email.lower()}
    if key == DedupeKey.EXTERNAL_DATA_REFERENCE and external_data_reference:
        return {"external_data_reference": external_data_reference}
    if key == DedupeKey.PHONE and phone:
        return {"phone": phone}
    if key == DedupeKey.NAME_AND_EMAIL and email and first_name and last_name:
        return {"email_lower": email.lower(), "first_name__iexact": first_name, "last_name__iexact": last_name}
    return None


def contact_find(
    *,
    directory: Directory,
    email: str = "",
    phone: str = "",
    external_data_reference: str = "",
    first_name: str = "",
    last_name: str = "",
    **_ignored,
) -> Contact | None:
    """The existing contact the directory's rules say this person is, trying rules in order."""
    contacts = Contact.objects.filter(directory=directory).alias(email_lower=Lower("email"))
    for key in directory_dedupe_keys(directory):
        lookup = _lookup(
            key,
            email=email,
            phone=phone,
            external_data_reference=external_data_reference,
            first_name=first_name,
            last_name=last_name,
        )
        if lookup is None:
            continue
        contact = contacts.filter(**lookup).order_by("id").first()
        if contact is not None:
            return contact
    return None


def embedded_data_case_clashes(names) -> list[tuple[str, str]]:
    """Pairs of embedded-data names that differ only by case (surveys read names exactly)."""
    seen: dict[str, str] = {}
    clashes = []
    for name in sorted(names):
        other = seen.setdefault(name.lower(), name)
        if other != name:
            clashes.append((other, name))
    return clashes
