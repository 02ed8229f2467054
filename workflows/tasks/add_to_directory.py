"""The XM Directory task in mode "Add to directory": save the event's person as a contact.

Distribute-survey kinds reuse `ContactFieldsForm` and `save_contacts`, so a contact is saved the
same way whichever mode the task is in.
"""

from dataclasses import dataclass
from datetime import datetime, time

from django import forms
from django.conf import settings
from django.utils import timezone
from email_validator import EmailNotValidError, validate_email

from directory.forms import KeyValueField
from directory.models import Contact, Directory, MailingList, Transaction
from directory.services import (
    ContactData,
    DirectoryError,
    contact_find_existing,
    contacts_upsert,
    directory_get_default,
    mailing_list_get_or_create,
    membership_ensure,
    memberships_ensure,
    transaction_append,
)
from workflows.piping import looks_piped
from workflows.salesforce.values import InvalidValue, in_salesforce_range, parse_moment, parse_phone
from workflows.tasks.batch import run_alone
from workflows.tasks.context import TaskContext
from workflows.tasks.forms import PipedTextInput, SuggestingTextInput, TaskConfigForm
from workflows.tasks.registry import TaskError, TaskKind

_PHONE_MAX_LENGTH = Contact._meta.get_field("phone").max_length


class SaveMode:
    EMBEDDED_DATA = "embedded_data"
    TRANSACTION = "transaction"
    CHOICES = [
        (EMBEDDED_DATA, "Save or update embedded data (creates new contacts)"),
        (TRANSACTION, "Add as transaction to contact info (existing contacts)"),
    ]


def _piped(label, *, required=False, help_text=""):
    return forms.CharField(
        label=label,
        required=required,
        max_length=1000,
        help_text=help_text or "Literal text and/or piped text such as ${event://Email}.",
        widget=PipedTextInput(attrs={"size": 60}),
    )


def _directory_names():
    return Directory.objects.order_by("name").values_list("name", flat=True)


def _mailing_list_names():
    return MailingList.objects.order_by("name").values_list("name", flat=True).distinct()


class ContactFieldsForm(TaskConfigForm):
    directory = forms.CharField(
        required=False,
        help_text="Empty: the default directory.",
        widget=SuggestingTextInput(suggestions=_directory_names),
    )
    mailing_list = forms.CharField(
        max_length=200,
        help_text="An existing mailing list, or a new name: the list is created on the first run.",
        widget=SuggestingTextInput(suggestions=_mailing_list_names),
    )
    first_name = _piped("First name", required=True, help_text="e.g. ${event://FirstName}")
    last_name = _piped("Last name", required=True, help_text="e.g. ${event://LastName}")
    email = _piped("Email", required=True, help_text="e.g. ${event://Email}")
    phone = _piped("Phone")  # help text in __init__: it names the installation's default region
    external_data_reference = _piped("External data reference", help_text="e.g. ${event://ContactId}")
    language = _piped("Language", help_text="e.g. EN, FR, or ${event://Language__c}")
    data_fields = KeyValueField(
        required=False,
        label="Embedded data / transaction fields",
        help_text="Name on the left (spelling and case matter when a survey reads it); piped value on the right.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["phone"].help_text = (
            "e.g. ${event://ContactPhone}. Saved in E.164, an extension as ;ext=12. Numbers without a country code "
            f"are read as {settings.DEFAULT_PHONE_REGION}; a value that is not a phone number (n/a) is left out "
            "and noted on the run, and the contact is saved without it."
        )

    def clean_phone(self):
        value = self.cleaned_data["phone"]
        if value.strip() and not looks_piped(value):
            try:
                parse_phone(value, default_region=settings.DEFAULT_PHONE_REGION)
            except InvalidValue as error:
                raise forms.ValidationError(str(error)) from None
        return value

    def clean_directory(self):
        name = self.cleaned_data["directory"].strip()
        if name and not Directory.objects.filter(name=name).exists():
            raise forms.ValidationError(f"There is no directory named {name!r}.")
        return name


class AddToDirectoryForm(ContactFieldsForm):
    save_mode = forms.ChoiceField(choices=SaveMode.CHOICES, initial=SaveMode.EMBEDDED_DATA)
    transaction_date = _piped(
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
        return value


@dataclass(frozen=True)
class SavedContact:
    contact: Contact
    mailing_list: MailingList
    created: bool
    transaction: Transaction | None = None

    def outputs(self) -> dict[str, str]:
        return {
            "ContactId": str(self.contact.pk),
            "MailingListId": str(self.mailing_list.pk),
            "TransactionId": str(self.transaction.pk) if self.transaction else "",
            "ContactAction": "created" if self.created else "updated",
        }


def _email(context: TaskContext) -> str:
    value = context.require("email", "Email")
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise TaskError(
            f"Email {value!r} (from {context.config.get('email')}) is not a valid email address: {error}"
        ) from None


def _phone(context: TaskContext) -> str:
    """The phone in E.164 (with ;ext=N when it has an extension), or "" when there is none.

    Phone is optional: a value that is not a phone number ("n/a", a national number of another
    country) is left out, with a note on the TaskRun, rather than stopping the contact and its
    survey. It is not saved as written, because the directory may dedupe on phone and every
    contact with "n/a" would then be one person.
    """
    value = context.pipe("phone")
    if not value:
        return ""
    try:
        phone = parse_phone(value, default_region=settings.DEFAULT_PHONE_REGION)
    except InvalidValue as error:
        phone, problem = "", str(error)
    else:
        if len(phone) <= _PHONE_MAX_LENGTH:
            return phone
        problem = f"{phone} is longer than the {_PHONE_MAX_LENGTH} characters a contact's phone holds."
    context.notes.append(
        f"Phone (from {context.config.get('phone')}) left out, the contact was saved without it: {problem}"
    )
    return ""


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


def _data_fields(context: TaskContext) -> dict[str, str]:
    """The non-empty data rows; an empty value never erases what the contact already has."""
    values = {}
    for name, template in context.config.get("data_fields") or []:
        value = context.render(template, record_as=f"data_fields.{name}")
        if value:
            values[name] = value
    return values


def _directory(context: TaskContext) -> Directory:
    name = (context.config.get("directory") or "").strip()
    if not name:
        return directory_get_default()
    try:
        return Directory.objects.get(name=name)
    except Directory.DoesNotExist:
        raise TaskError(f"There is no directory named {name!r}: choose another in the task.") from None


def _contact_data(context: TaskContext) -> ContactData:
    return ContactData(
        first_name=context.require("first_name", "First name"),
        last_name=context.require("last_name", "Last name"),
        email=_email(context),
        phone=_phone(context),
        external_data_reference=context.pipe("external_data_reference"),
        language=context.pipe("language"),
        embedded_data=_data_fields(context),
    )


def save_contact(context: TaskContext, *, save_mode: str = SaveMode.EMBEDDED_DATA) -> SavedContact:
    """Resolve the contact fields, then upsert the contact (or find it) and add it to the list."""
    saved = save_contacts([context], save_mode=save_mode)[0]
    if isinstance(saved, TaskError):
        raise saved
    return saved


def save_contacts(contexts: list[TaskContext], *, save_mode: str = SaveMode.EMBEDDED_DATA) -> list:
    """`save_contact` for the runs of one task at once. -> per context, its SavedContact or the
    TaskError that stopped it; a context that failed wrote nothing."""
    list_name = (contexts[0].config.get("mailing_list") or "").strip()
    if not list_name:
        return [TaskError("Choose the mailing list the contact is saved to.")] * len(contexts)
    results: list = []
    for context in contexts:
        try:
            results.append(_contact_data(context))
        except TaskError as error:
            results.append(error)
    valid = [number for number, result in enumerate(results) if isinstance(result, ContactData)]
    if not valid:
        return results
    try:
        directory = _directory(contexts[0])
    except TaskError as error:
        return [error] * len(contexts)
    mailing_list = mailing_list_get_or_create(name=list_name, directory=directory)
    if save_mode == SaveMode.TRANSACTION:
        for number in valid:
            results[number] = _append_transaction(contexts[number], results[number], directory, mailing_list)
        return results
    upserted = contacts_upsert(directory=directory, items=[results[number] for number in valid])
    memberships_ensure(contacts=[contact for contact, _created in upserted], mailing_list=mailing_list)
    for number, (contact, created) in zip(valid, upserted, strict=True):
        results[number] = SavedContact(contact=contact, mailing_list=mailing_list, created=created)
    return results


def _append_transaction(context: TaskContext, data: ContactData, directory: Directory, mailing_list: MailingList):
    """-> SavedContact, or the TaskError, found before anything was written."""
    try:
        when = _transaction_date(context)
        contact = contact_find_existing(directory=directory, data=data)
    except TaskError as error:
        return error
    except DirectoryError as error:
        return TaskError(str(error))
    membership_ensure(contact=contact, mailing_list=mailing_list)
    transaction = transaction_append(
        contact=contact,
        mailing_list=mailing_list,
        data=data.embedded_data,
        transaction_date=when,
        run_id=context.run_id,
    )
    return SavedContact(contact=contact, mailing_list=mailing_list, created=False, transaction=transaction)


def run_batch(contexts: list[TaskContext]) -> list:
    mode = contexts[0].config.get("save_mode") or SaveMode.EMBEDDED_DATA
    return [
        saved if isinstance(saved, TaskError) else saved.outputs() for saved in save_contacts(contexts, save_mode=mode)
    ]


KIND = TaskKind(
    name="add_to_directory",
    label="XM Directory: add to directory",
    config_form=AddToDirectoryForm,
    run=run_alone(run_batch),
    run_batch=run_batch,
    outputs=("ContactId", "MailingListId", "TransactionId", "ContactAction"),
)
