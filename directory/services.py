"""Writes to the contact directory: upsert by the directory's dedupe rules, lists, data."""

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from directory.models import Contact, DedupeKey, Directory, MailingList, Membership, Transaction
from directory.selectors import (
    DEDUPE_FIELDS,
    contact_dedupe_values,
    contact_duplicate,
    contact_find,
    contacts_find_by_rule,
    dedupe_rule_holds,
    dedupe_rule_value,
    directory_dedupe_keys,
)


class DirectoryError(Exception):
    """A directory write that cannot succeed as asked; the message says what to change."""


class DuplicateContact(DirectoryError):
    """A change that would make a contact the same person as `other` by the directory's dedupe
    rule `key`: the rules would then find two contacts for one person."""

    def __init__(self, message: str, *, key: str, other: Contact):
        super().__init__(message)
        self.key, self.other = key, other


@dataclass(frozen=True)
class ContactData:
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    external_data_reference: str = ""
    language: str = ""
    embedded_data: dict[str, str] = field(default_factory=dict)

    _PROFILE_FIELDS = ("first_name", "last_name", "email", "phone", "external_data_reference", "language")

    def profile(self) -> dict[str, str]:
        """The non-empty profile fields: an empty incoming value never erases a stored one."""
        return {name: getattr(self, name) for name in self._PROFILE_FIELDS if getattr(self, name)}


def directory_get_default() -> Directory:
    directory = Directory.objects.filter(is_default=True).first()
    if directory is None:
        directory, _ = Directory.objects.get_or_create(name="Default directory", defaults={"is_default": True})
    return directory


def mailing_list_get_or_create(*, name: str, directory: Directory | None = None) -> MailingList:
    directory = directory or directory_get_default()
    mailing_list, _ = MailingList.objects.get_or_create(directory=directory, name=name.strip())
    mailing_list.directory = directory  # the caller's instance: reading it costs no query
    return mailing_list


def directory_lock(directory: Directory) -> None:
    """Hold `directory`'s row lock until the current transaction ends (call it within one).

    Serializes whatever looks for a contact and then saves one within one directory (upserts,
    the admin's contact form), so two of them handling the same person at the same moment cannot
    both miss the lookup and insert two contacts. (SQLite serializes all writers already; the row
    lock is what PostgreSQL needs.)
    """
    Directory.objects.select_for_update().filter(pk=directory.pk).exists()


class _CreatedContacts:
    """The contacts an upsert call creates, in order, found by each rule's value in one lookup
    (as `dedupe_rule_holds` would find them going through the list). Items may change a created
    contact's values: `changed` files it under its new ones."""

    def __init__(self, keys: tuple[str, ...]):
        self.keys = keys
        self.contacts: list[Contact] = []
        self._order: dict[int, int] = {}  # id(contact) -> its place in `contacts`
        self._by_value: dict[tuple[str, tuple], list[Contact]] = defaultdict(list)
        self._filed: dict[int, list[tuple[str, tuple]]] = {}

    def add(self, contact: Contact) -> None:
        self._order[id(contact)] = len(self.contacts)
        self.contacts.append(contact)
        self._file(contact)

    def changed(self, contact: Contact) -> None:
        for filed in self._filed.pop(id(contact)):
            self._by_value[filed].remove(contact)
        self._file(contact)

    def first(self, key: str, profile: dict) -> Contact | None:
        value = dedupe_rule_value(key, profile)
        found = self._by_value.get((key, value)) if value is not None else None
        return found[0] if found else None

    def __contains__(self, contact: Contact) -> bool:
        return id(contact) in self._order

    def _file(self, contact: Contact) -> None:
        values = contact_dedupe_values(contact)
        filed = [(key, value) for key in self.keys if (value := dedupe_rule_value(key, values)) is not None]
        for entry in filed:
            bisect.insort(self._by_value[entry], contact, key=lambda other: self._order[id(other)])
        self._filed[id(contact)] = filed


def _same_person(
    profile: dict[str, str],
    stored_matches: dict[str, list[Contact]],
    *,
    moved: dict[int, Contact],
    created: _CreatedContacts,
) -> Contact | None:
    """The contact an upsert of `profile` lands on, given what earlier items of the call did.

    Rule by rule, as contact_find: stored contacts count by what the database said, except those
    whose dedupe values an earlier item changed (`moved`), which are matched on their new values;
    contacts created earlier in the call come after every stored one, as their ids will.
    """
    for key, stored in stored_matches.items():
        candidates = [contact for contact in stored if contact.pk not in moved]
        candidates += [
            contact for contact in moved.values() if dedupe_rule_holds(key, contact=contact, profile=profile)
        ]
        if candidates:
            return min(candidates, key=lambda contact: contact.pk)
        if (contact := created.first(key, profile)) is not None:
            return contact
    return None


@transaction.atomic
def contacts_upsert(*, directory: Directory, items: list[ContactData]) -> list[tuple[Contact, bool]]:
    """contact_upsert of each item in order, in a handful of statements whatever their number.

    -> (contact, created) per item. Items that end on the same contact share one Contact object,
    which holds the final state: profile values and embedded data merged in item order.
    """
    directory_lock(directory)
    profiles = [item.profile() for item in items]
    keys = directory_dedupe_keys(directory)
    stored_matches = contacts_find_by_rule(directory=directory, profiles=profiles, keys=keys)
    created = _CreatedContacts(keys)
    updated: dict[int, tuple[Contact, set[str]]] = {}
    moved: dict[int, Contact] = {}
    results = []
    for data, profile, matches in zip(items, profiles, stored_matches):
        contact = _same_person(profile, matches, moved=moved, created=created)
        if contact is None:
            contact = Contact(directory=directory, embedded_data=dict(data.embedded_data), **profile)
            created.add(contact)
            results.append((contact, True))
            continue
        dedupe_values_change = any(
            getattr(contact, name) != value for name, value in profile.items() if name in DEDUPE_FIELDS
        )
        if contact.pk is not None:
            # Its stored values no longer say who it is: later items match it on the new ones.
            if dedupe_values_change:
                moved[contact.pk] = contact
            updated.setdefault(contact.pk, (contact, set()))[1].update(profile)
        for name, value in profile.items():
            setattr(contact, name, value)
        if dedupe_values_change and contact in created:
            created.changed(contact)
        contact.embedded_data = {**contact.embedded_data, **data.embedded_data}
        results.append((contact, False))
    Contact.objects.bulk_create(created.contacts)
    _contacts_save_updates(updated.values())
    return results


def _contacts_save_updates(updated: Iterable[tuple[Contact, set[str]]]) -> None:
    now = timezone.now()
    by_fields: dict[tuple[str, ...], list[Contact]] = defaultdict(list)
    for contact, names in updated:
        contact.updated_at = now
        by_fields[tuple(sorted(names))].append(contact)
    for names, contacts in by_fields.items():
        # Only the fields the items set: an opt-out (or any other field) committed since the
        # contacts were read must stay.
        fields = [*names, "embedded_data", "updated_at"]
        if connection.vendor == "postgresql":
            _update_from_values(contacts, fields)
        else:
            Contact.objects.bulk_update(contacts, fields)


def _update_from_values(contacts: list[Contact], names: list[str]) -> None:
    """Contact.objects.bulk_update(contacts, names) as one `UPDATE ... FROM (VALUES ...)`: each row
    joined to its values, where bulk_update builds a CASE WHEN per field and row (costly to
    compile, and to plan: the database tests every WHEN of every field for every row)."""
    fields = [Contact._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    # The first row's casts type the VALUES columns (a placeholder alone is text).
    casts = ["::bigint", *(f"::{field.db_type(connection)}" for field in fields)]
    row = ", ".join(f"%s{cast}" for cast in casts)
    columns = ", ".join(quote(field.column) for field in fields)
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in fields)
    params = [
        value
        for contact in contacts
        for value in (
            contact.pk,
            *(field.get_db_prep_save(getattr(contact, field.attname), connection) for field in fields),
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(Contact._meta.db_table)} AS c SET {assignments} "
            f"FROM (VALUES {', '.join([f'({row})'] * len(contacts))}) AS v(id, {columns}) WHERE c.id = v.id",
            params,
        )


def contact_upsert(*, directory: Directory, data: ContactData) -> tuple[Contact, bool]:
    """Find the contact by the directory's rules and update it, or create it. -> (contact, created)"""
    return contacts_upsert(directory=directory, items=[data])[0]


def contact_find_existing(*, directory: Directory, data: ContactData) -> Contact:
    contact = contact_find(directory=directory, **data.profile())
    if contact is None:
        rules = ", ".join(DedupeKey(key).label.lower() for key in directory_dedupe_keys(directory))
        raise DirectoryError(
            f"No contact in {directory} matches ({rules}) {data.email or data.external_data_reference or data.phone}. "
            "Transactions are only added to existing contacts: add a task in mode "
            "'Save or update embedded data' before this one to create the contact."
        )
    return contact


def membership_ensure(*, contact: Contact, mailing_list: MailingList) -> Membership:
    membership, _ = Membership.objects.get_or_create(contact=contact, mailing_list=mailing_list)
    return membership


def memberships_ensure(*, contacts: list[Contact], mailing_list: MailingList) -> None:
    """Add the contacts to the list; those already in it stay as they are (opt-outs included)."""
    unique = {contact.pk: contact for contact in contacts}
    Membership.objects.bulk_create(
        [Membership(contact=contact, mailing_list=mailing_list) for contact in unique.values()],
        ignore_conflicts=True,
    )


def contacts_save_to_list(
    *, directory: Directory, mailing_list: MailingList, items: list[ContactData]
) -> list[tuple[Contact, bool]]:
    """Upsert each item's contact by the directory's dedupe rules (`contacts_upsert`) and add the
    contacts to `mailing_list` (one of the directory's), whatever their number in a handful of
    statements. -> (contact, created) per item, in their order."""
    upserted = contacts_upsert(directory=directory, items=items)
    memberships_ensure(contacts=[contact for contact, _created in upserted], mailing_list=mailing_list)
    return upserted


def contact_transaction_append(
    *,
    directory: Directory,
    mailing_list: MailingList,
    data: ContactData,
    transaction_date: datetime | None = None,
    run_id: int | None = None,
) -> tuple[Contact, Transaction]:
    """Append a transaction holding `data.embedded_data` to the existing contact `data` names (by
    the directory's dedupe rules), adding the contact to `mailing_list`. -> (contact, transaction).
    Raises DirectoryError, having written nothing, when no contact matches: transactions are only
    appended to existing contacts."""
    contact = contact_find_existing(directory=directory, data=data)
    membership_ensure(contact=contact, mailing_list=mailing_list)
    appended = transaction_append(
        contact=contact,
        mailing_list=mailing_list,
        data=data.embedded_data,
        transaction_date=transaction_date,
        run_id=run_id,
    )
    return contact, appended


def transaction_append(
    *,
    contact: Contact,
    mailing_list: MailingList | None,
    data: dict[str, str],
    transaction_date: datetime | None = None,
    run_id: int | None = None,
) -> Transaction:
    return Transaction.objects.create(
        contact=contact,
        mailing_list=mailing_list,
        data=data,
        transaction_date=transaction_date or timezone.now(),
        run_id=run_id,
    )


@transaction.atomic
def contact_delete(*, contact: Contact) -> None:
    """Delete the contact with its memberships and transactions. Apps that copied its fields erase
    their copies in the same transaction, from their pre_delete receivers (e.g. distributions'
    invitations and responses): deleting a contact erases it everywhere. Raises Contact.DoesNotExist
    when another call deleted it meanwhile (this one then deleted nothing)."""
    if not Contact.objects.select_for_update().filter(pk=contact.pk).exists():
        raise Contact.DoesNotExist(f"Contact {contact.public_id} was deleted meanwhile.")
    contact.delete()


CONTACT_UPDATABLE_FIELDS = ("first_name", "last_name", "email", "phone", "external_data_reference", "language")


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    fields: dict[str, str],
    embedded_data: dict[str, str] | None = None,
    unsubscribed: bool | None = None,
) -> Contact:
    """Set the given profile `fields` (names from CONTACT_UPDATABLE_FIELDS; "" clears one), merge
    `embedded_data` into the contact's (a name given replaces its value, the others stay) and set
    `unsubscribed` when given. Only what is given is written: a change committed meanwhile to
    another field stays. -> the contact as stored now. Raises DirectoryError for a field that
    cannot be set, DuplicateContact, having written nothing, when the new values make it the
    same person as another contact of its directory by its dedupe rules (as the admin's form
    refuses it), and Contact.DoesNotExist when another call deleted it meanwhile."""
    unknown = set(fields) - set(CONTACT_UPDATABLE_FIELDS)
    if unknown:
        raise DirectoryError(f"A contact has no field {', '.join(sorted(unknown))}.")
    identifying = set(fields) & set(DEDUPE_FIELDS)
    if identifying:
        # Before the contact's row, as upserts take them: an upsert of the same person waits.
        directory_lock(contact.directory)
    locked = Contact.objects.select_for_update().get(pk=contact.pk)
    if any(getattr(locked, name) != fields[name] for name in identifying):
        profile = {**contact_dedupe_values(locked), **{name: fields[name] for name in identifying}}
        found = contact_duplicate(directory=contact.directory, profile=profile, contact=locked)
        if found is not None:
            key, other = found
            raise DuplicateContact(
                f"{other.public_id} already is this person by the dedupe rule {DedupeKey(key).label.lower()} "
                f"of {contact.directory}: update that contact instead, or give this one other values.",
                key=key,
                other=other,
            )
    changed = dict(fields)
    if embedded_data:
        changed["embedded_data"] = {**locked.embedded_data, **embedded_data}
    if unsubscribed is not None:
        changed["unsubscribed"] = unsubscribed
    for name, value in changed.items():
        setattr(locked, name, value)
    locked.save(update_fields=[*changed, "updated_at"])
    return locked


@transaction.atomic
@transaction.atomic
def mailing_list_create(*, directory: Directory, name: str) -> MailingList:
    """A new mailing list in the directory. Raises DirectoryError when the name is taken or empty.

    Holds the directory's lock, so two calls naming one list at the same moment make it once and
    refuse the other (rather than the database's unique constraint failing the second)."""
    name = name.strip()
    if not name:
        raise DirectoryError("Give the mailing list a name.")
    directory_lock(directory)
    if MailingList.objects.filter(directory=directory, name=name).exists():
        raise DirectoryError(f"{directory} already has a mailing list named “{name}”: choose another name.")
    return MailingList.objects.create(directory=directory, name=name)


@dataclass(frozen=True)
class TransactionData:
    """One transaction of a batch: the contact and mailing list by their public ids."""

    contact_id: str
    mailing_list_id: str = ""
    transaction_date: datetime | None = None
    data: dict[str, str] = field(default_factory=dict)


@transaction.atomic
def transactions_create(
    *, directory: Directory, items: dict[str, TransactionData]
) -> tuple[dict[str, Transaction], dict[str, str]]:
    """Append each item (keyed by the caller's key) to its contact's timeline, in a handful of
    statements whatever their number. -> (created transactions per key, why per key not processed).

    An item whose contact or mailing list is not one of the directory's is not processed and
    changes nothing; the others are appended. A missing transaction date is now.

    The contacts found are locked (in key order, so two batches cannot deadlock) until the
    transaction ends: a contact deleted meanwhile is either found gone (its items unprocessed) or
    deleted after the batch, with its transactions; never inserted for then (a 500).
    """
    contacts = {
        contact.public_id: contact
        for contact in Contact.objects.filter(
            directory=directory, public_id__in={item.contact_id for item in items.values()}
        )
        .order_by("pk")
        .select_for_update(no_key=True)
    }
    mailing_lists = MailingList.objects.filter(directory=directory).in_bulk(
        {item.mailing_list_id for item in items.values() if item.mailing_list_id}, field_name="public_id"
    )
    now = timezone.now()
    created: dict[str, Transaction] = {}
    unprocessed: dict[str, str] = {}
    for key, item in items.items():
        contact = contacts.get(item.contact_id)
        if contact is None:
            unprocessed[key] = f"No contact {item.contact_id} in {directory}: create the contact first."
            continue
        mailing_list = mailing_lists.get(item.mailing_list_id) if item.mailing_list_id else None
        if item.mailing_list_id and mailing_list is None:
            unprocessed[key] = f"No mailing list {item.mailing_list_id} in {directory}."
            continue
        created[key] = Transaction(
            contact=contact,
            mailing_list=mailing_list,
            transaction_date=item.transaction_date or now,
            data=dict(item.data),
        )
    Transaction.objects.bulk_create(created.values())
    return created, unprocessed


@transaction.atomic
def contact_save(
    *, directory: Directory, data: ContactData, mailing_list: MailingList | None = None, unsubscribe: bool = False
) -> tuple[Contact, bool]:
    """contact_upsert, then, when asked, opt the contact out (never back in: an upsert does not undo
    an opt-out) and add it to `mailing_list` (one of the directory's). All or nothing.
    -> (contact, created)"""
    contact, created = contact_upsert(directory=directory, data=data)
    if unsubscribe and not contact.unsubscribed:
        contact = contact_update(contact=contact, fields={}, unsubscribed=True)
    if mailing_list is not None:
        membership_ensure(contact=contact, mailing_list=mailing_list)
    return contact, created


def contacts_sms_opt_out(*, phone: str, opted_out: bool = True) -> int:
    """Set the SMS opt-out of every contact, in every directory, whose phone is `phone` (E.164):
    a text of STOP from a number stops texts to it whichever directory holds it; START
    (`opted_out=False`) undoes it. Email is not affected. -> the number of contacts changed."""
    return (
        Contact.objects.filter(phone=phone)
        .exclude(sms_opted_out=opted_out)
        .update(sms_opted_out=opted_out, updated_at=timezone.now())
    )
