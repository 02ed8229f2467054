from django.db import models
from django.db.models.functions import Lower

from directory.public_ids import PublicIdField
from directory.values import PHONE_MAX_LENGTH


class DedupeKey(models.TextChoices):
    EMAIL = "email", "Email (case-insensitive)"
    EXTERNAL_DATA_REFERENCE = "external_data_reference", "External data reference"
    PHONE = "phone", "Phone"
    NAME_AND_EMAIL = "name_and_email", "First name + last name + email"


class Directory(models.Model):
    public_id = PublicIdField(prefix="POOL_")
    name = models.CharField(max_length=200, unique=True)
    is_default = models.BooleanField(
        default=False, help_text="Mailing lists created by name in workflow tasks go here."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "directories"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_directory"
            )
        ]

    def __str__(self):
        return self.name


class DedupeRule(models.Model):
    """One step of a directory's deduplication: rules are tried in order, first match wins."""

    directory = models.ForeignKey(Directory, on_delete=models.CASCADE, related_name="dedupe_rules")
    position = models.PositiveSmallIntegerField(default=1)
    key = models.CharField(max_length=32, choices=DedupeKey.choices)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["directory", "key"], name="dedupe_rule_once_per_directory")]

    def __str__(self):
        return f"{self.position}. {self.get_key_display()}"


class Contact(models.Model):
    public_id = PublicIdField(prefix="CID_")
    directory = models.ForeignKey(Directory, on_delete=models.CASCADE, related_name="contacts")
    first_name = models.CharField(max_length=200, blank=True)
    last_name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    phone = models.CharField(
        max_length=PHONE_MAX_LENGTH,
        blank=True,
        help_text="E.164, e.g. +14155550100; an extension as ;ext=12 (RFC 3966).",
    )
    external_data_reference = models.CharField(max_length=255, blank=True)
    language = models.CharField(max_length=16, blank=True)
    unsubscribed = models.BooleanField(default=False, help_text="Opted out of every mailing list.")
    # Channel-aware opt-out: a text of STOP (or another carrier keyword) from the contact's phone
    # stops texts to it, not email; START undoes it. `unsubscribed` still stops every channel.
    sms_opted_out = models.BooleanField(
        default=False, verbose_name="SMS opted out", help_text="Replied STOP by text: gets no more texts."
    )
    embedded_data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # dedupe by email and the admin's email search: lower(email) = lower(%s)
            models.Index(Lower("email"), "directory", name="contact_email_ci"),
            # dedupe by external data reference
            models.Index(fields=["directory", "external_data_reference"], name="contact_extref"),
            # dedupe by phone
            models.Index(fields=["directory", "phone"], name="contact_phone"),
            # SMS opt-out and opt-in keywords, in every directory: where phone = %s
            models.Index(fields=["phone"], name="contact_phone_any_directory"),
        ]

    def __str__(self):
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} <{self.email}>" if self.email else name or f"Contact {self.pk}"


class MailingList(models.Model):
    public_id = PublicIdField(prefix="CG_")
    directory = models.ForeignKey(Directory, on_delete=models.CASCADE, related_name="mailing_lists")
    name = models.CharField(max_length=200)
    contacts = models.ManyToManyField(Contact, through="Membership", related_name="mailing_lists")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["directory__name", "name"]
        constraints = [models.UniqueConstraint(fields=["directory", "name"], name="mailing_list_name_per_directory")]

    def __str__(self):
        return self.name


class Membership(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="memberships")
    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="memberships")
    unsubscribed = models.BooleanField(default=False, help_text="Opted out of this list only.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "mailing_list"], name="membership_once_per_list")]

    def __str__(self):
        return f"{self.contact} in {self.mailing_list}"


class Transaction(models.Model):
    """A dated set of key/value fields on a contact's timeline; appended, never updated."""

    public_id = PublicIdField(prefix="CTR_")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="transactions")
    mailing_list = models.ForeignKey(
        MailingList, on_delete=models.SET_NULL, null=True, blank=True, related_name="transactions"
    )
    transaction_date = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)
    # The workflow run that appended it. A plain id, not a foreign key: the directory sits below
    # workflows and must not depend on it.
    run_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-transaction_date", "-id"]
        indexes = [
            # the contact page's timeline: where contact_id = %s order by transaction_date desc
            models.Index(fields=["contact", "-transaction_date"], name="transaction_timeline"),
        ]

    def __str__(self):
        return f"Transaction {self.pk} on {self.transaction_date:%Y-%m-%d}"
