"""The XM Directory task in mode "Add to directory": save the event's person as a contact.

The recipient fields and the saving are those every contact-saving kind shares
(`workflows/tasks/contacts.py`); this kind adds the save mode and, for transactions, their date.
"""

from datetime import datetime, time

from django import forms
from django.utils import timezone

from directory.services import ContactData, DirectoryError, contact_transaction_append
from workflows.piping import looks_piped
from workflows.salesforce.values import InvalidValue, ValueKind, in_salesforce_range, parse_moment
from workflows.tasks.contacts import (
    CONTACT_FIELDS,
    ContactFieldsForm,
    SavedContact,
    piped_field,
    task_contacts_resolve,
    task_contacts_save,
)
from workflows.tasks.context import TaskContext
from workflows.tasks.registry import TaskError, TaskKind


class SaveMode:
    EMBEDDED_DATA = "embedded_data"
    TRANSACTION = "transaction"
    CHOICES = [
        (EMBEDDED_DATA, "Save or update embedded data (creates new contacts)"),
        (TRANSACTION, "Add as transaction to contact info (existing contacts)"),
    ]


class AddToDirectoryForm(ContactFieldsForm):
    save_mode = forms.ChoiceField(choices=SaveMode.CHOICES, initial=SaveMode.EMBEDDED_DATA)
    transaction_date = piped_field(
        "Transaction date",
        help_text="Transactions only. Empty: the time of the run. A Date or Date/Time field, e.g. "
        "${event://ClosedDate} or ${date://today}: a date alone is that day at 00:00 (in the TIME_ZONE "
        "the admin shows), a date and time without an offset is UTC. Dates outside those Salesforce holds "
        "(1700-01-01 to 4000-12-31) fail the task.",
    )

    field_order = ["save_mode"]

    def clean_transaction_date(self):
        value = self.cleaned_data["transaction_date"]
        if value.strip() and not looks_piped(value):
            try:
                in_salesforce_range(parse_moment(value))
            except InvalidValue as error:
                raise forms.ValidationError(str(error)) from None
        elif error := self.declared_kind_error(
            value,
            label="Transaction date",
            accepted=(ValueKind.DATE, ValueKind.DATETIME),
            needs="a date or a date and time",
        ):
            raise forms.ValidationError(error)
        return value


def _transaction_date(context: TaskContext) -> datetime:
    """The piped transaction date as an aware datetime; empty is the time of the run.

    A date alone (Salesforce's Date fields, ${date://today}) is that day at 00:00 in TIME_ZONE,
    the zone the admin shows transactions in, so it is listed on that day; a date and time
    without an offset is UTC, as Salesforce sends them.
    """
    value = context.pipe("transaction_date")
    if not value:
        return timezone.now()
    try:
        moment = in_salesforce_range(parse_moment(value))
    except InvalidValue as error:
        raise TaskError(
            f"Transaction date (from {context.config.get('transaction_date')}) is not a date: {error} "
            "Pipe a Date or Date/Time field such as ${event://ClosedDate}."
        ) from None
    if isinstance(moment, datetime):
        return moment
    return timezone.make_aware(datetime.combine(moment, time.min))


def _transactions_append(contexts: list[TaskContext]) -> list:
    """Mode "transaction": a transaction on each run's existing contact. -> per context, its
    SavedContact or the TaskError found before anything of it was written."""
    results, mailing_list = task_contacts_resolve(contexts)
    for number, (context, data) in enumerate(zip(contexts, results, strict=True)):
        if not isinstance(data, ContactData):
            continue
        try:
            contact, appended = contact_transaction_append(
                directory=mailing_list.directory,
                mailing_list=mailing_list,
                data=data,
                transaction_date=_transaction_date(context),
                run_id=context.run_id,
            )
        except TaskError as error:
            results[number] = error
        except DirectoryError as error:
            results[number] = TaskError(str(error))
        else:
            results[number] = SavedContact(
                contact=contact, mailing_list=mailing_list, created=False, transaction=appended
            )
    return results


def run_batch(contexts: list[TaskContext]) -> list:
    mode = contexts[0].config.get("save_mode") or SaveMode.EMBEDDED_DATA
    saved = _transactions_append(contexts) if mode == SaveMode.TRANSACTION else task_contacts_save(contexts)
    return [result if isinstance(result, TaskError) else result.outputs() for result in saved]


KIND = TaskKind(
    name="add_to_directory",
    label="XM Directory: add to directory",
    config_form=AddToDirectoryForm,
    run_batch=run_batch,
    outputs=("ContactId", "MailingListId", "TransactionId", "ContactAction"),
    # Ids and "created"/"updated": nothing of the person, kept when the contact is deleted.
    outputs_kept_on_erasure=("ContactId", "MailingListId", "TransactionId", "ContactAction"),
    contact_fields=CONTACT_FIELDS,
)
