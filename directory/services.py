"""Writes to the contact directory: upsert by the directory's dedupe rules, lists, data."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from directory.models import Contact, DedupeKey, Directory, MailingList, Membership, Transaction
from directory.selectors import contact_find, directory_dedupe_keys


class DirectoryError(Exception):
    """A directory write that cannot succeed as asked; the message says what to change."""


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
    return mailing_list


def _lock_directory(directory: Directory) -> None:
    # Serializes upserts within one directory, so two workers handling the same person at the
    # same moment cannot both miss the lookup and insert two contacts. (SQLite serializes all
    # writers already; the row lock is what PostgreSQL needs.)
    Directory.objects.select_for_update().filter(pk=directory.pk).exists()


@transaction.atomic
def contact_upsert(*, directory: Directory, data: ContactData) -> tuple[Contact, bool]:
    """Find the contact by the directory's rules and update it, or create it. -> (contact, created)"""
    _lock_directory(directory)
    contact = contact_find(directory=directory, **data.profile())
    if contact is None:
        contact = Contact.objects.create(directory=directory, embedded_data=dict(data.embedded_data), **data.profile())
        return contact, True
    for name, value in data.profile().items():
        setattr(contact, name, value)
    contact.embedded_data = {**contact.embedded_data, **data.embedded_data}
    # Only the fields this upsert sets: an opt-out committed since the contact was read must stay.
    contact.save(update_fields=[*data.profile(), "embedded_data", "updated_at"])
    return contact, False


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
