import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.fields.json import KeyTextTransform
from django.urls import reverse
from email_validator import EmailNotValidError, validate_email

from workflows.conditions import OPERATOR_LABELS, Match, Operator
from workflows.public_urls import public_url
from workflows.salesforce.parse import SALESFORCE_ID, is_organization_id, organization_key
from workflows.salesforce.values import case_safe_suffix_holds

SALESFORCE_API_NAME = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9_]*$",
    "Use the object's API name as Salesforce shows it, e.g. Case, Opportunity or Store_Visit__c.",
)


def email_list(text: str) -> list[str]:
    """Addresses written one per line or comma-separated."""
    return [address for address in text.replace(",", "\n").split() if address]


def validate_email_list(text: str) -> None:
    bad = []
    for address in email_list(text):
        try:
            validate_email(address, check_deliverability=False)
        except EmailNotValidError:
            bad.append(address)
    if bad:
        raise ValidationError(
            f"Not valid email addresses: {', '.join(bad)}. Write one address per line (or separate them with commas)."
        )


def validate_organization_ids(text: str) -> None:
    """Each whitespace-separated word must be an organization id: a Salesforce id (15 or 18
    letters and digits) with the organizations' key prefix 00D."""
    words = text.split()
    bad = [org for org in words if not (SALESFORCE_ID.fullmatch(org) and is_organization_id(org))]
    if bad:
        raise ValidationError(
            f"Not Salesforce organization ids: {', '.join(bad)}. Write each id on its own line: 15 or 18 letters "
            "and digits starting with 00D, as Setup > Company Information shows it."
        )
    # An 18-character id's last 3 characters encode the case of its first 15: a mistyped suffix
    # would restore another case, so the organization's own calls would be refused (403).
    unchecked = [org for org in words if len(org) == 18 and not case_safe_suffix_holds(org)]
    if unchecked:
        raise ValidationError(
            f"Mistyped organization ids: {', '.join(unchecked)}: the last 3 characters do not check the first 15, "
            "so calls from the organization would be refused. Copy the id again from Setup > Company Information "
            "(its 15-character form is fine too)."
        )


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Workflow(models.Model):
    class OnTaskFailure(models.TextChoices):
        CONTINUE = "continue", "Continue with the next task"
        STOP = "stop", "Stop the run"

    name = models.CharField(max_length=200, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="workflows",
        help_text="Tasks act with the owner's permissions.",
    )
    enabled = models.BooleanField(default=True)
    salesforce_object = models.CharField(
        max_length=100,
        validators=[SALESFORCE_API_NAME],
        help_text="API name of the object the outbound message is bound to (Case, Lead, Opportunity, Contact, X__c).",
    )
    allowed_organization_ids = models.TextField(
        blank=True,
        validators=[validate_organization_ids],
        help_text="Salesforce organization ids (00D…, 15 or 18 characters) allowed to call, one per line. "
        "Empty accepts any organization.",
    )
    condition_match = models.CharField(
        max_length=3, choices=[(m.value, f"Match {m.value}") for m in Match], default=Match.ALL
    )
    on_task_failure = models.CharField(max_length=10, choices=OnTaskFailure.choices, default=OnTaskFailure.CONTINUE)
    failure_recipients = models.TextField(
        blank=True,
        validators=[validate_email_list],
        help_text="Also email these addresses (one per line or comma-separated) when a task fails; "
        "the owner is always emailed. At most one email per 15 minutes, then a digest.",
    )
    # When the last failure email went out: the next one waits until FAILURE_EMAIL_INTERVAL has passed.
    failure_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    token = models.CharField(max_length=64, editable=False, default=new_token)
    # Calls are matched on the token's digest, so the lookup's timing says nothing about the token.
    token_digest = models.CharField(max_length=64, editable=False, unique=True)
    # field API name -> XSD type ("" when only seen in messages)
    known_fields = models.JSONField(default=dict, blank=True, editable=False)
    fields_from_wsdl = models.BooleanField(
        default=False, editable=False, help_text="Known fields were declared by an uploaded WSDL."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.token_digest = token_digest(self.token)
        super().save(*args, **kwargs)

    @property
    def event_path(self) -> str:
        return reverse("workflows:salesforce-event", args=[self.token])

    @property
    def event_url(self) -> str:
        return public_url("workflows:salesforce-event", args=[self.token])

    @property
    def masked_event_url(self) -> str:
        """The event URL with its token cut to the first characters (as inbound messages keep a
        token's hint): which URL it is, to whoever may not have the URL itself."""
        return self.without_token(self.event_url)

    def without_token(self, text: str) -> str:
        """The text with the event URL's token cut to its first characters wherever it appears."""
        return text.replace(self.token, f"{self.token[:6]}…")

    def organization_keys(self) -> set[str]:
        return {organization_key(org) for org in self.allowed_organization_ids.split()}


class Condition(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="conditions")
    position = models.PositiveSmallIntegerField(default=1)
    field = models.CharField(max_length=200, help_text="Event field API name, e.g. IsClosed.")
    operator = models.CharField(max_length=30, choices=[(op.value, OPERATOR_LABELS[op]) for op in Operator])
    value = models.CharField(max_length=500, blank=True, help_text="Literal text and/or piped text.")

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return f"{self.field} {OPERATOR_LABELS[Operator(self.operator)]} {self.value}".strip()


class Task(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="tasks")
    position = models.PositiveSmallIntegerField(default=1, help_text="Tasks run in this order; 1 runs first.")
    kind = models.CharField(max_length=50)  # choices come from workflows.tasks.registry
    config = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        from workflows.tasks.registry import kind_label

        return f"{self.position}. {kind_label(self.kind)}"


class InboundMessage(models.Model):
    """One call to the event endpoint, accepted or refused: the inbound log."""

    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        DUPLICATE = "duplicate", "Duplicate (already received)"
        REFUSED = "refused", "Refused"

    # Not indexed alone: inbound_workflow_recent below starts with it.
    workflow = models.ForeignKey(
        Workflow, on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound_messages", db_index=False
    )
    received_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    http_status = models.PositiveSmallIntegerField()
    reason = models.TextField(blank=True)
    token_hint = models.CharField(max_length=12, blank=True, help_text="First characters of the URL token used.")
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    content_type = models.CharField(max_length=200, blank=True)
    organization_id = models.CharField(max_length=18, blank=True)
    action_id = models.CharField(max_length=18, blank=True)
    sobject_type = models.CharField(max_length=100, blank=True)
    notification_count = models.PositiveIntegerField(default=0)
    new_notification_count = models.PositiveIntegerField(default=0)
    body_size = models.PositiveIntegerField(default=0)
    body = models.TextField(blank=True, help_text="As received, with the SessionId removed.")

    class Meta:
        indexes = [
            # the inbound log: order by received_at desc, filtered by status and workflow
            models.Index(fields=["-received_at"], name="inbound_recent"),
            models.Index(fields=["status", "-received_at"], name="inbound_status_recent"),
            models.Index(fields=["workflow", "-received_at"], name="inbound_workflow_recent"),
            # the inbound log's HTTP status filter: where http_status = %s order by received_at desc
            models.Index(fields=["http_status", "-received_at"], name="inbound_http_status_recent"),
        ]

    def __str__(self):
        return f"{self.get_status_display()} call {self.pk} ({self.http_status})"


class Notification(models.Model):
    # The workflow is the inbound message's (and each run's).
    inbound_message = models.ForeignKey(InboundMessage, on_delete=models.CASCADE, related_name="notifications")
    organization_key = models.CharField(
        max_length=15,
        help_text="The organization id in its 15-character, case-sensitive form, which its 18-character id shares.",
    )
    notification_id = models.CharField(max_length=18)
    sobject_type = models.CharField(max_length=100)
    record_id = models.CharField(max_length=18, blank=True)
    fields = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Salesforce delivers at least once: a redelivered notification must be a no-op.
            # notification_id first: its index also serves Workflow Reporting's search by
            # notification id (where notification_id = %s), so the endpoint keeps one index fewer
            # up to date for every notification it stores.
            models.UniqueConstraint(fields=["notification_id", "organization_key"], name="notification_once")
        ]
        indexes = [
            # Workflow Reporting's search by record id: where record_id = %s
            models.Index(fields=["record_id"], name="notification_record"),
        ]

    def __str__(self):
        return f"{self.sobject_type} {self.record_id or self.notification_id}"


class TestEvent(models.Model):
    """An outbound message an admin sent to the workflow's own endpoint to try it.

    The endpoint marks the runs of a message as test runs only when the request carries this row's
    signed id (`workflows.services.test_events`); nothing in the SOAP body can, so a Salesforce
    caller cannot mark a message as a test. A test run is flagged in Workflow Reporting and left
    out of the dashboard's counts.
    """

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="test_events")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    notification_id = models.CharField(max_length=18)
    body = models.TextField(help_text="The outbound message as sent, SOAP envelope and all.")
    test_recipient = models.EmailField(
        blank=True,
        help_text="Tasks that email people send to this address instead, for this test's runs only. "
        "Empty: to the people the event names.",
    )
    # Set by the endpoint when it accepts the message: the signed id works once.
    received_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery = models.TextField(blank=True, help_text="What the endpoint answered, or why it was not reached.")
    acknowledged = models.BooleanField(null=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"Test event {self.pk} of {self.workflow}"


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CONDITIONS_NOT_MET = "conditions_not_met", "Conditions not met"
        SKIPPED = "skipped", "Skipped"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CONDITIONS_NOT_MET, Status.SKIPPED)
    WORKFLOW_DISABLED = "Workflow disabled: enable it, then replay this run."

    # Not indexed alone: run_workflow_recent below starts with it.
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs", db_index=False)
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="runs")
    replay_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays", db_index=False
    )
    test_event = models.ForeignKey(
        TestEvent,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="runs",
        db_index=False,
        help_text="Set when an admin sent the event from the workflow's page to try it.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    status_reason = models.TextField(blank=True)
    condition_results = models.JSONField(default=list, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(help_text="Not run before this time (retry backoff).")
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Partial indexes stay small (only the rows they serve) and cost nothing on the inserts
        # they leave out, which matters on the ingest path.
        indexes = [
            # the dispatcher: status = 'queued' and next_attempt_at <= now
            models.Index(fields=["next_attempt_at"], condition=models.Q(status="queued"), name="run_due"),
            # the reaper: status = 'running' and claimed_at < now - lease
            models.Index(fields=["claimed_at"], condition=models.Q(status="running"), name="run_claimed"),
            # a run's replays, and clearing replay_of when a run is purged
            models.Index(fields=["replay_of"], condition=models.Q(replay_of__isnull=False), name="run_replays"),
            # Workflow Reporting: newest first, per workflow
            # (where workflow_id = %s order by created_at desc, id desc limit 100)
            models.Index(fields=["workflow", "-created_at"], name="run_workflow_recent"),
            # Workflow Reporting's default page and its date filters
            # (where created_at >= %s and created_at < %s order by created_at desc, id desc limit 100)
            models.Index(fields=["-created_at"], name="run_recent"),
            # Workflow Reporting's status filter (where status = %s order by created_at desc, id desc limit 100)
            models.Index(fields=["status", "-created_at"], name="run_status_recent"),
            # Workflow Reporting's test-event filter and a test event's runs (few rows: tests only)
            models.Index(
                fields=["test_event", "-created_at"], condition=models.Q(test_event__isnull=False), name="run_test"
            ),
        ]

    def __str__(self):
        return f"Run {self.pk} of {self.workflow} ({self.get_status_display()})"


class TaskRun(models.Model):
    """One attempt at one task of a run; attempts are appended, never edited afterwards."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        RETRYING = "retrying", "Failed, will retry"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="task_runs")
    task = models.ForeignKey(Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="task_runs")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=50)
    attempt = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices)
    resolved_input = models.JSONField(default=dict, blank=True)
    output = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    notes = models.JSONField(default=list, blank=True, help_text="Piped fields that resolved to empty.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["position", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position", "attempt"], name="task_run_attempt_once"),
            # At most one success per task of a run: what makes retries skip finished tasks safe.
            models.UniqueConstraint(
                fields=["run", "position"],
                condition=models.Q(status="succeeded"),
                name="task_run_succeeds_once",
            ),
        ]
        indexes = [
            # Workflow Reporting's search by contact email: the runs whose tasks touched those contacts
            # (where output ->> 'ContactId' in (%s, ...)); every task kind that acts on a contact
            # outputs ContactId, so this one index covers them all.
            models.Index(KeyTextTransform("ContactId", "output"), name="task_run_contact"),
        ]

    def __str__(self):
        return f"Task {self.position} of run {self.run_id}, attempt {self.attempt}"

    @property
    def kind_label(self) -> str:
        from workflows.tasks.registry import kind_label

        return kind_label(self.kind)

    @property
    def duration_ms(self) -> int:
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


class FailureNotice(models.Model):
    """A permanently failed task waiting to be emailed (alone, or in the workflow's next digest)."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="failure_notices")
    # Purged with its task run by retention.
    task_run = models.OneToOneField(TaskRun, on_delete=models.CASCADE, related_name="failure_notice")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # the digest sender: where sent_at is null (few rows: pending notices only)
            models.Index(fields=["created_at"], condition=models.Q(sent_at=None), name="failure_notice_pending"),
        ]

    def __str__(self):
        return f"Failure notice for task run {self.task_run_id} ({'sent' if self.sent_at else 'pending'})"
