"""The directory in the admin: contacts with their lists, embedded data and transaction timeline."""

import re

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import Count, Value
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from directory.forms import KeyValueField
from directory.models import Contact, DedupeKey, DedupeRule, Directory, MailingList, Membership, Transaction
from directory.selectors import DEDUPE_FIELDS, contact_duplicate, embedded_data_case_clashes
from directory.services import directory_lock
from directory.values import InvalidValue, contact_email, contact_phone

# A search term that is a whole email address is looked up by the lower(email) index.
_WHOLE_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class PhoneSearchMixin:
    """The admin search also finds a phone number written as people write it: phones are stored
    in E.164, so "(415) 555-0100" finds +14155550100 (read in DEFAULT_PHONE_REGION). `phone_field`:
    the lookup path of the stored phone."""

    phone_field = "phone"

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if "@" in term or not any(character.isdigit() for character in term):
            return results, may_have_duplicates
        try:
            phone = contact_phone(term)
        except InvalidValue:
            return results, may_have_duplicates
        if not phone or phone == term:
            return results, may_have_duplicates
        return results | queryset.filter(**{self.phone_field: phone}), may_have_duplicates


def data_table(data: dict) -> str:
    """A name/value table, for embedded data and transaction fields."""
    if not data:
        return "—"
    rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", sorted(data.items()))
    return format_html('<table class="data-table"><tbody>{}</tbody></table>', rows)


def data_lines(data: dict) -> str:
    """'key: value' lines, for a table cell."""
    return format_html_join(mark_safe("<br>"), "{}: {}", sorted(data.items())) or "—"


class DedupeRuleInline(admin.TabularInline):
    model = DedupeRule
    fields = ["position", "key"]
    extra = 0
    template = "admin/directory/directory/dedupe_rule_inline.html"


@admin.register(Directory)
class DirectoryAdmin(admin.ModelAdmin):
    list_display = ["name", "is_default", "created_at"]
    search_fields = ["name"]
    fields = ["name", "is_default"]
    inlines = [DedupeRuleInline]


# The form field a dedupe rule's match is reported on.
_DEDUPE_RULE_FIELD = {
    DedupeKey.EMAIL: "email",
    DedupeKey.EXTERNAL_DATA_REFERENCE: "external_data_reference",
    DedupeKey.PHONE: "phone",
    DedupeKey.NAME_AND_EMAIL: "email",
}


class ContactForm(forms.ModelForm):
    """A contact's fields, read as every other way into the directory reads them (the REST API,
    workflow tasks): email normalized, phone in E.164, and no contact the directory's dedupe rules
    say already exists. Bad input is a form error; nothing is saved until it is fixed."""

    # Longer than the stored E.164 may be: people write spaces, brackets and "ext.".
    phone = forms.CharField(required=False, max_length=100)
    embedded_data = KeyValueField(
        required=False,
        label="Edit embedded data",
        help_text="Spelling and case matter: a survey reads embedded data by its exact name.",
    )

    class Meta:
        model = Contact
        fields = [
            "directory",
            "first_name",
            "last_name",
            "email",
            "phone",
            "external_data_reference",
            "language",
            "unsubscribed",
            "embedded_data",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["phone"].help_text = (
            "Any way people write it; saved in E.164 (e.g. +14155550100), an extension as ;ext=12. "
            f"Numbers without a country code are read as {settings.DEFAULT_PHONE_REGION}."
        )

    def clean_email(self):
        return self._read("email", contact_email)

    def clean_phone(self):
        return self._read("phone", contact_phone)

    def _read(self, name: str, read) -> str:
        """The field as the directory stores it (`read`: directory.values), checked only when typed:
        a contact saved before the form read its values stays editable with its old one."""
        value = self.cleaned_data[name]
        if self.instance.pk is not None and name not in self.changed_data:
            return value
        try:
            return read(value)
        except InvalidValue as error:
            raise forms.ValidationError(str(error)) from None

    def clean_embedded_data(self):
        return dict(self.cleaned_data["embedded_data"])

    def clean(self):
        cleaned_data = super().clean()
        directory = cleaned_data.get("directory")
        dedupe_fields = ("directory", *DEDUPE_FIELDS)
        # A field that failed its own checks has no value to compare; an unchanged contact is not
        # refused for a duplicate it already was (the change that made it one is what is refused).
        if directory is None or any(name in self.errors for name in dedupe_fields):
            return cleaned_data
        if self.instance.pk is not None and not any(name in self.changed_data for name in dedupe_fields):
            return cleaned_data
        profile = {name: cleaned_data.get(name, "") for name in DEDUPE_FIELDS}
        # The admin validates and saves in one transaction: under the lock, another admin or a
        # workflow task adding the same person waits for this save, and then finds it.
        directory_lock(directory)
        found = contact_duplicate(directory=directory, profile=profile, contact=self.instance)
        if found is not None:
            key, other = found
            url = reverse("admin:directory_contact_change", args=[other.pk])
            self.add_error(
                _DEDUPE_RULE_FIELD[key],
                format_html(
                    '{} already has this contact: <a href="{}">{}</a>, the same person by its dedupe rule '
                    "{}. Edit that contact instead.",
                    directory,
                    url,
                    other,
                    DedupeKey(key).label.lower(),
                ),
            )
        return cleaned_data


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ["mailing_list", "unsubscribed", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["mailing_list"]
    extra = 0
    verbose_name_plural = "mailing lists"


class TransactionInline(admin.TabularInline):
    model = Transaction
    fields = ["transaction_date", "mailing_list", "transaction_fields", "run_id"]
    readonly_fields = fields
    ordering = ["-transaction_date", "-id"]
    can_delete = False
    extra = 0
    verbose_name_plural = "transactions (newest first)"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("mailing_list")

    @admin.display(description="Fields")
    def transaction_fields(self, transaction):
        return data_lines(transaction.data)


@admin.register(Contact)
class ContactAdmin(PhoneSearchMixin, admin.ModelAdmin):
    form = ContactForm
    list_display = [
        "name",
        "email",
        "phone",
        "external_data_reference",
        "directory",
        "unsubscribed",
        "updated_at",
    ]
    search_fields = ["first_name", "last_name", "email", "external_data_reference", "phone"]
    list_filter = ["directory", "unsubscribed", "mailing_lists"]
    list_select_related = ["directory"]
    show_full_result_count = False
    readonly_fields = ["embedded_data_table", "created_at", "updated_at"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "directory",
                    ("first_name", "last_name"),
                    "email",
                    "phone",
                    "external_data_reference",
                    "language",
                    "unsubscribed",
                    ("created_at", "updated_at"),
                ]
            },
        ),
        ("Embedded data", {"fields": ["embedded_data_table"]}),
        ("Edit embedded data", {"fields": ["embedded_data"], "classes": ["collapse"]}),
    ]
    inlines = [MembershipInline, TransactionInline]

    @admin.display(description="Name", ordering="last_name")
    def name(self, contact):
        return f"{contact.first_name} {contact.last_name}".strip() or "—"

    @admin.display(description="Embedded data")
    def embedded_data_table(self, contact):
        clashes = embedded_data_case_clashes(contact.embedded_data)
        if not clashes:
            return data_table(contact.embedded_data)
        pairs = ", ".join(f"{first} / {second}" for first, second in clashes)
        return format_html(
            '<ul class="messagelist"><li class="warning">Names that differ only by case: {}. A survey reads '
            "embedded data by its exact name, so only one of each pair will match: merge them.</li></ul>{}",
            pairs,
            data_table(contact.embedded_data),
        )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if _WHOLE_EMAIL.fullmatch(term):
            return queryset.alias(email_lower=Lower("email")).filter(email_lower=Lower(Value(term))), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(MailingList)
class MailingListAdmin(admin.ModelAdmin):
    list_display = ["name", "directory", "member_count", "created_at"]
    list_filter = ["directory"]
    list_select_related = ["directory"]
    search_fields = ["name"]
    fields = ["directory", "name", "created_at"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description="Members", ordering="member_count")
    def member_count(self, mailing_list):
        url = reverse("admin:directory_contact_changelist") + f"?mailing_lists__id__exact={mailing_list.pk}"
        return format_html('<a href="{}">{}</a>', url, mailing_list.member_count)


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = ["transaction_date", "contact", "mailing_list", "transaction_fields", "run_id"]
    list_filter = ["mailing_list"]
    list_select_related = ["contact", "mailing_list"]
    search_fields = ["contact__email"]
    date_hierarchy = "transaction_date"
    show_full_result_count = False
    fields = ["contact", "mailing_list", "transaction_date", "transaction_fields", "run_id", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Fields")
    def transaction_fields(self, transaction):
        return data_lines(transaction.data)
