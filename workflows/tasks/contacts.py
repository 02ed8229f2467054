"""The contact a task saves: the recipient fields every contact-saving kind shares, and saving them.

Add to Directory (`workflows/tasks/add_to_directory.py`) and Distribute Survey
(`distributions/tasks.py`) both take these fields (`ContactFieldsForm`) and save the contact with
`task_contacts_save`, so a contact is saved the same way whichever task names it. The saving
itself is the directory's (`directory.services.contacts_save_to_list`); this module resolves the
piped fields of each run into its ContactData and turns what cannot be saved into TaskErrors.
"""

from dataclasses import dataclass

from django import forms
from django.conf import settings
from email_validator import EmailNotValidError, validate_email

from directory.forms import KeyValueField
from directory.models import Contact, Directory, MailingList, Transaction
from directory.services import ContactData, contacts_save_to_list, directory_get_default, mailing_list_get_or_create
from workflows.piping import looks_piped
from workflows.salesforce.values import InvalidValue, ValueKind, parse_phone
from workflows.tasks.context import TaskContext
from workflows.tasks.forms import PipedTextInput, SuggestingTextInput, TaskConfigForm
from workflows.tasks.registry import TaskError

_PHONE_MAX_LENGTH = Contact._meta.get_field("phone").max_length
# The fields of ContactFieldsForm that find an existing contact (the directory's dedupe keys), the
# email first: a kind that saves contacts declares them as TaskKind.contact_fields, so a test
# event's test address replaces the email and empties the others.
CONTACT_FIELDS = ("email", "external_data_reference", "phone")


def piped_field(label, *, required=False, help_text=""):
    """A one-line config field that takes literal and/or piped text."""
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
    """The directory, the mailing list and the contact's fields, as every contact-saving kind asks them."""

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
    first_name = piped_field("First name", required=True, help_text="e.g. ${event://FirstName}")
    last_name = piped_field("Last name", required=True, help_text="e.g. ${event://LastName}")
    email = piped_field("Email", required=True, help_text="e.g. ${event://Email}")
    phone = piped_field("Phone")  # help text in __init__: it names the installation's default region
    external_data_reference = piped_field("External data reference", help_text="e.g. ${event://ContactId}")
    language = piped_field("Language", help_text="e.g. EN, FR, or ${event://Language__c}")
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
        elif error := self.declared_kind_error(
            value, label="Phone", accepted=(ValueKind.NUMBER,), needs="a phone number"
        ):
            raise forms.ValidationError(error)
        return value

    def clean(self):
        cleaned = super().clean()
        # Written out longer than the contact holds, the field would fail every run (_within_limit).
        for name in ("first_name", "last_name", "external_data_reference", "language"):
            value = (cleaned.get(name) or "").strip()
            limit = Contact._meta.get_field(name).max_length
            if len(value) > limit and not looks_piped(value) and name not in self.errors:
                self.add_error(
                    name,
                    f"{self.fields[name].label} is {len(value):,} characters long; a contact's "
                    f"{self.fields[name].label.lower()} holds at most {limit}.",
                )
        return cleaned

    def clean_email(self):
        return self.address_checked(
            "email",
            label="Email",
            refusal="",
            advice="Write one such as ada@example.com, or pipe the field that holds it, e.g. ${event://Email}.",
        )

    def address_checked(self, name: str, *, label: str, refusal: str, advice: str) -> str:
        """The cleaned text of the address field `name`, refused (ValidationError) when it is written
        out and is not an email address, or is one ${event://Field} of a field the WSDL declares as
        no text (an id, a date, which never holds one): either would fail every run. Other piped
        text is checked when the task runs. The refusal reads "{refusal}'text' is not an email
        address: {why} {advice}"; `label` names the field in the declared-type refusal."""
        value = self.cleaned_data[name]
        if value.strip() and not looks_piped(value):
            try:
                validate_email(value.strip(), check_deliverability=False)
            except EmailNotValidError as error:
                raise forms.ValidationError(
                    f"{refusal}{value.strip()!r} is not an email address: {error} {advice}"
                ) from None
        elif error := self.declared_kind_error(value, label=label, accepted=(), needs="an email address"):
            raise forms.ValidationError(error)
        return value

    def clean_directory(self):
        name = self.cleaned_data["directory"].strip()
        if name and not Directory.objects.filter(name=name).exists():
            raise forms.ValidationError(f"There is no directory named {name!r}.")
        return name


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


def _email(context: TaskContext, *, required: bool = True) -> str:
    if not required and not context.pipe("email"):
        return ""
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


def _data_fields(context: TaskContext) -> dict[str, str]:
    """The non-empty data rows; an empty value never erases what the contact already has."""
    values = {}
    for name, template in context.config.get("data_fields") or []:
        value = context.render(template, record_as=f"data_fields.{name}")
        if value:
            values[name] = value
    return values


def task_contact_data(context: TaskContext, *, email_required: bool = True) -> ContactData:
    """The contact one run's task names, its piped fields resolved. Raises TaskError for a required
    field that is empty, an email that is not an address, or a value longer than the directory
    holds. `email_required`: False for a task that reaches the contact otherwise (by text), where
    an empty email is saved as none."""
    return ContactData(
        first_name=_within_limit(context, "first_name", context.require("first_name", "First name")),
        last_name=_within_limit(context, "last_name", context.require("last_name", "Last name")),
        email=_email(context, required=email_required),
        phone=_phone(context),
        external_data_reference=_within_limit(
            context, "external_data_reference", context.pipe("external_data_reference")
        ),
        language=_within_limit(context, "language", context.pipe("language")),
        embedded_data=_data_fields(context),
    )


def _within_limit(context: TaskContext, name: str, value: str) -> str:
    """`value` of the contact field `name`, refused when longer than the directory stores: saving
    it would fail at the database, and the run's error would not say which field to fix."""
    limit = Contact._meta.get_field(name).max_length
    if len(value) <= limit:
        return value
    label = ContactFieldsForm.base_fields[name].label
    raise TaskError(
        f"{label} (from {context.config.get(name) or ''}) is {len(value):,} characters long; a contact's "
        f"{label.lower()} holds at most {limit}: pipe a shorter field, or set the value in the task."
    )


def _list_name(context: TaskContext) -> str:
    name = (context.config.get("mailing_list") or "").strip()
    if not name:
        raise TaskError("Choose the mailing list the contact is saved to.")
    return name


def _directory(context: TaskContext) -> Directory:
    name = (context.config.get("directory") or "").strip()
    if not name:
        return directory_get_default()
    directory = Directory.objects.filter(name=name).first()
    if directory is None:
        raise TaskError(f"There is no directory named {name!r}: choose another in the task.")
    return directory


def task_mailing_list(context: TaskContext) -> tuple[Directory, MailingList]:
    """The task's directory and its mailing list (created on first use). Raises TaskError when the
    task names no list, or a directory that does not exist."""
    name = _list_name(context)
    directory = _directory(context)
    return directory, mailing_list_get_or_create(name=name, directory=directory)


def task_contacts_resolve(
    contexts: list[TaskContext], *, email_required: bool = True
) -> tuple[list[ContactData | TaskError], MailingList | None]:
    """The contacts the runs of one task name, and the task's mailing list (None when no contact
    resolved). -> per context its ContactData or TaskError; every context gets the TaskError of a
    mailing list or directory that cannot be used. Writes nothing but a new mailing list."""
    try:
        _list_name(contexts[0])
    except TaskError as error:
        return [error] * len(contexts), None
    results: list = []
    for context in contexts:
        try:
            results.append(task_contact_data(context, email_required=email_required))
        except TaskError as error:
            results.append(error)
    if not any(isinstance(result, ContactData) for result in results):
        return results, None
    try:
        _directory, mailing_list = task_mailing_list(contexts[0])
    except TaskError as error:
        return [error] * len(contexts), None
    return results, mailing_list


def task_contacts_save(contexts: list[TaskContext], *, email_required: bool = True) -> list[SavedContact | TaskError]:
    """Save the contact of each run of one task (contexts of one task of one workflow): create it or
    update it with its embedded data by the directory's dedupe rules, and add it to the task's
    mailing list, in a handful of statements whatever their number. -> per context, its
    SavedContact or the TaskError that stopped it; a context that failed wrote nothing."""
    results, mailing_list = task_contacts_resolve(contexts, email_required=email_required)
    if mailing_list is None:
        return results
    valid = [number for number, result in enumerate(results) if isinstance(result, ContactData)]
    upserted = contacts_save_to_list(
        directory=mailing_list.directory, mailing_list=mailing_list, items=[results[number] for number in valid]
    )
    for number, (contact, created) in zip(valid, upserted, strict=True):
        results[number] = SavedContact(contact=contact, mailing_list=mailing_list, created=created)
    return results
