"""Reads of the contact directory."""

import operator
from collections import defaultdict
from functools import reduce

from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Lower

from directory.models import Contact, DedupeKey, Directory

DEFAULT_DEDUPE_KEYS = (DedupeKey.EMAIL,)
DEDUPE_FIELDS = ("email", "phone", "external_data_reference", "first_name", "last_name")
# How many recent contacts' embedded-data names are read for suggestions and spelling checks:
# enough to catch a habit of spelling (every contact of a workflow gets the same names), cheap to read.
CONTACT_SAMPLE_SIZE = 1000


def directory_dedupe_keys(directory: Directory) -> tuple[str, ...]:
    keys = tuple(rule.key for rule in directory.dedupe_rules.all())
    return keys or DEFAULT_DEDUPE_KEYS


def _values(profile: dict) -> tuple[str, ...]:
    return tuple(profile.get(name) or "" for name in DEDUPE_FIELDS)


def emails_lowered(emails) -> dict[str, str]:
    """Each of `emails` in lower case as the database folds the stored ones (`Lower("email")`, the
    contact_email_ci index): email -> its lower case, for comparing with them.

    Python's case mapping is not the database's beyond ASCII: SQLite's lower() folds ASCII only
    ("ÉLODIE" stays "Élodie"), PostgreSQL's follows the database's locale ("ΣΑΣ" -> "σασ" where
    Python gives "σας", "İ" -> "i" where Python adds a combining dot). Folded in Python, an address
    with such letters would not find even the contact holding it as written. ASCII addresses, which
    every side folds alike, are folded here; the others in one query.
    """
    lowered = {email: email.lower() for email in emails if email.isascii()}
    others = sorted({email for email in emails if not email.isascii()})
    for start in range(0, len(others), 500):
        chunk = others[start : start + 500]
        rows = ", ".join(["(%s)"] * len(chunk))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT column1, lower(column1) FROM (VALUES {rows}) AS emails", chunk)
            lowered.update(cursor.fetchall())
    return lowered


def _lookup(key: str, profile: dict, lowered: dict[str, str]) -> dict | None:
    """The filter one dedupe rule applies, or None when the incoming contact lacks its values.
    `lowered`: the profile's email as the database folds it (`emails_lowered`)."""
    email, phone, external_data_reference, first_name, last_name = _values(profile)
    if key == DedupeKey.EMAIL and email:
        return {"email_lower": lowered[email]}
    if key == DedupeKey.EXTERNAL_DATA_REFERENCE and external_data_reference:
        return {"external_data_reference": external_data_reference}
    if key == DedupeKey.PHONE and phone:
        return {"phone": phone}
    if key == DedupeKey.NAME_AND_EMAIL and email and first_name and last_name:
        return {"email_lower": lowered[email], "first_name__iexact": first_name, "last_name__iexact": last_name}
    return None


def dedupe_rule_value(key: str, values: dict) -> tuple | None:
    """What rule `key` compares of a contact's `values` (a profile, or a contact's fields), case
    folded as `_lookup` has the database fold it; None when a value the rule needs is empty.
    Two contacts are the same person by the rule when their values are equal and not None."""
    email, phone, external_data_reference, first_name, last_name = _values(values)
    if key == DedupeKey.EMAIL and email:
        return (email.lower(),)
    if key == DedupeKey.EXTERNAL_DATA_REFERENCE and external_data_reference:
        return (external_data_reference,)
    if key == DedupeKey.PHONE and phone:
        return (phone,)
    if key == DedupeKey.NAME_AND_EMAIL and email and first_name and last_name:
        return (email.lower(), first_name.upper(), last_name.upper())
    return None


def contact_dedupe_values(contact: Contact) -> dict[str, str]:
    """The fields of `contact` the dedupe rules compare, as a profile holds them."""
    return {name: getattr(contact, name) for name in DEDUPE_FIELDS}


def dedupe_rule_holds(key: str, *, contact: Contact, profile: dict) -> bool:
    """Whether rule `key` says the in-memory `contact` is the person `profile` describes.

    The Python twin of `_lookup`, for contacts whose values are not the stored ones (not saved yet,
    or changed since read). Python's case mapping stands in for the database's: they agree except
    on some non-ASCII letters (SQLite folds ASCII only).
    """
    value = dedupe_rule_value(key, profile)
    return value is not None and value == dedupe_rule_value(key, contact_dedupe_values(contact))


def _contacts_matching(directory: Directory, lookups: list[dict], instances: dict[int, Contact]) -> list[list[Contact]]:
    """Per lookup, the directory's contacts it matches, lowest id first, all in one query.

    Each distinct lookup is also a boolean column computed by the database, so a contact counts as
    matching exactly when filtering by that lookup alone would return it (lower(), iexact and
    collations included). `instances` keeps one Contact object per row across calls.
    """
    if not lookups:
        return []
    distinct = list(dict.fromkeys(tuple(sorted(lookup.items())) for lookup in lookups))
    if len({items[0][0] for items in distinct}) == 1 and all(len(items) == 1 for items in distinct):
        return _contacts_matching_one_value(directory, distinct[0][0][0], lookups, instances)
    conditions = [Q(*items) for items in distinct]
    flags = {
        f"dedupe_match_{number}": ExpressionWrapper(condition, output_field=BooleanField())
        for number, condition in enumerate(conditions)
    }
    rows = (
        Contact.objects.filter(directory=directory)
        .alias(email_lower=Lower("email"))
        .filter(reduce(operator.or_, conditions))
        .annotate(**flags)
        .order_by("id")
    )
    matches: dict[tuple, list[Contact]] = {items: [] for items in distinct}
    for row in rows:
        # Popped so the contacts handed out carry only their fields.
        matched = [vars(row).pop(name) for name in flags]
        contact = instances.setdefault(row.pk, row)
        for items, is_match in zip(distinct, matched):
            if is_match:
                matches[items].append(contact)
    return [matches[tuple(sorted(lookup.items()))] for lookup in lookups]


# What a one-field lookup compares, as the database computes it.
_LOOKUP_VALUES = {
    "email_lower": Lower("email"),
    "external_data_reference": F("external_data_reference"),
    "phone": F("phone"),
}


def _contacts_matching_one_value(
    directory: Directory, name: str, lookups: list[dict], instances: dict[int, Contact]
) -> list[list[Contact]]:
    """`_contacts_matching` for lookups that all compare one value (a rule on email, phone or
    external data reference): `IN` the values, each row matched by the value the database
    computed for it, where the general query adds a column and a condition per lookup."""
    rows = (
        Contact.objects.filter(directory=directory)
        .annotate(dedupe_value=_LOOKUP_VALUES[name])
        .filter(dedupe_value__in={lookup[name] for lookup in lookups})
        .order_by("id")
    )
    matches: dict[str, list[Contact]] = defaultdict(list)
    for row in rows:
        value = vars(row).pop("dedupe_value")  # the contacts handed out carry only their fields
        matches[value].append(instances.setdefault(row.pk, row))
    return [matches.get(lookup[name], []) for lookup in lookups]


def _matches_by_rule(
    directory: Directory, profiles: list[dict], *, stop_at_first_match: bool, keys: tuple[str, ...] | None = None
) -> list[dict[str, list[Contact]]]:
    matches: list[dict[str, list[Contact]]] = [{} for _ in profiles]
    instances: dict[int, Contact] = {}
    keys = keys or directory_dedupe_keys(directory)
    by_email = DedupeKey.EMAIL in keys or DedupeKey.NAME_AND_EMAIL in keys
    lowered = emails_lowered({profile.get("email") for profile in profiles if profile.get("email")} if by_email else ())
    for key in keys:
        lookups = {}
        for number, profile in enumerate(profiles):
            if stop_at_first_match and any(matches[number].values()):
                continue
            lookup = _lookup(key, profile, lowered)
            if lookup is not None:
                lookups[number] = lookup
        for number, contacts in zip(lookups, _contacts_matching(directory, list(lookups.values()), instances)):
            matches[number][key] = contacts
    return matches


def contacts_find_by_rule(
    *, directory: Directory, profiles: list[dict], keys: tuple[str, ...] | None = None
) -> list[dict[str, list[Contact]]]:
    """Per profile: for each of the directory's rules it has values for, in rule order, every
    contact that rule matches, lowest id first. One query per rule; one object per contact.
    `keys`: the directory's rules (`directory_dedupe_keys`) when the caller has read them.

    Unlike contacts_find it keeps the runners-up and the later rules: upserting several profiles
    in turn needs them when an earlier profile changes the values a first match was found by.
    """
    return _matches_by_rule(directory, profiles, stop_at_first_match=False, keys=keys)


def contacts_find(*, directory: Directory, profiles: list[dict]) -> list[Contact | None]:
    """Per profile (a dict of contact fields), the existing contact the directory's rules say it
    is, trying rules in order; lowest id on ties. One query per rule for all profiles."""
    return [
        next((contacts[0] for contacts in by_rule.values() if contacts), None)
        for by_rule in _matches_by_rule(directory, profiles, stop_at_first_match=True)
    ]


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
    profile = {
        "email": email,
        "phone": phone,
        "external_data_reference": external_data_reference,
        "first_name": first_name,
        "last_name": last_name,
    }
    return contacts_find(directory=directory, profiles=[profile])[0]


def contact_duplicate(
    *, directory: Directory, profile: dict, contact: Contact | None = None
) -> tuple[str, Contact] | None:
    """The first of the directory's rules, in order, that says `profile` (a dict of contact fields,
    email and phone as stored) is a contact of the directory other than `contact` (the one being
    changed; None for a new one), and the lowest-id such contact: -> (rule key, other contact).
    None when no rule matches another contact. One query per rule the profile has values for."""
    [by_rule] = contacts_find_by_rule(directory=directory, profiles=[profile])
    for key, contacts in by_rule.items():
        others = [other for other in contacts if contact is None or other.pk != contact.pk]
        if others:
            return key, others[0]
    return None


def contact_embedded_data_names(*, sample_size: int = CONTACT_SAMPLE_SIZE) -> set[str]:
    """The embedded-data names the `sample_size` most recently created contacts have."""
    names: set[str] = set()
    for data in Contact.objects.order_by("-id").values_list("embedded_data", flat=True)[:sample_size]:
        if isinstance(data, dict):
            names.update(data)
    return names


def embedded_data_case_clashes(names) -> list[tuple[str, str]]:
    """Pairs of embedded-data names that differ only by case (surveys read names exactly)."""
    seen: dict[str, str] = {}
    clashes = []
    for name in sorted(names):
        other = seen.setdefault(name.lower(), name)
        if other != name:
            clashes.append((other, name))
    return clashes


SEARCHABLE_FIELDS = {"email": "email", "external_data_reference": "external_data_reference", "phone": "phone"}


def contacts_search(*, directory: Directory, filters: list[tuple[str, str]], match_all: bool):
    """The directory's contacts matching the (field, value) filters, all of them (`match_all`) or
    any; fields are email (case-insensitive, as the dedupe rule), external_data_reference and phone
    (exact). Each filter is an indexed equality (contact_email_ci, contact_extref, contact_phone).
    -> a queryset ordered by id. Raises ValueError for another field."""
    conditions = []
    for name, value in filters:
        if name not in SEARCHABLE_FIELDS:
            raise ValueError(f"Contacts are searched by {', '.join(SEARCHABLE_FIELDS)}, not {name}.")
        conditions.append(Q(email_lower=Lower(Value(value))) if name == "email" else Q(**{name: value}))
    contacts = Contact.objects.filter(directory=directory).alias(email_lower=Lower("email")).order_by("id")
    if not conditions:
        return contacts
    return contacts.filter(reduce(operator.and_ if match_all else operator.or_, conditions))
