import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.core.validators import DomainNameValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Upper

from directory.models import Contact, Directory
from directory.public_ids import PublicIdField
from workflows.models import token_digest


def new_invitation_token() -> str:
    return secrets.token_urlsafe(24)  # 192 bits


def new_short_code() -> str:
    """The code of a text's short survey link: 10 URL-safe characters, 60 bits, so guessing one
    of millions of live codes still takes about 10^11 tries."""
    return secrets.token_urlsafe(8)[:10]


class TokenDigestField(models.CharField):
    """The SHA-256 (hex) of the row's field `of`, computed whenever the row is inserted or saved;
    empty while that field is empty (an email invitation has no short code).

    Computed in pre_save, which bulk_create calls too, so no way of writing a row leaves it stale.
    """

    def __init__(self, *args, of: str, **kwargs):
        self.of = of
        super().__init__(*args, **{"max_length": 64, "editable": False, **kwargs})

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        return name, path, args, {**kwargs, "of": self.of}

    def pre_save(self, model_instance, add):
        source = getattr(model_instance, self.of)
        value = token_digest(source) if source else ""
        setattr(model_instance, self.attname, value)
        return value


# The piped text a survey's own texts can use: its page knows the contact, their embedded data,
# the invitation's links and the date, not the Salesforce event that sent it.
SURVEY_TEXT_SCHEMES = ("m", "e", "l", "date")
# What respondents read as the survey's title when it has no public title.
DEFAULT_PUBLIC_TITLE = "Survey"


class SmsAfterInvalidReplies(models.TextChoices):
    """What a two-way SMS survey does once a question's re-asks are used up (Survey.sms_after_invalid_replies)."""

    NEXT_QUESTION = "next", "Move on to the next question"
    END = "end", "End the survey"


class Survey(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        CLOSED = "closed", "Closed"

    public_id = PublicIdField(prefix="SV_")
    name = models.CharField(max_length=200, help_text="Seen in the admin only.")
    public_title = models.CharField(
        max_length=200,
        blank=True,
        help_text=f"The title respondents see on the survey page. Empty: “{DEFAULT_PUBLIC_TITLE}”, never the name.",
    )
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="surveys")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    introduction = models.TextField(blank=True, help_text="Shown above the questions; piped text allowed.")
    thank_you = models.TextField(default="Thank you for your answers.", help_text="Shown when the survey is finished.")
    # Two-way SMS surveys (services/sms_sessions.py): one question per text.
    sms_introduction = models.TextField(
        "SMS introduction",
        blank=True,
        help_text="Two-way SMS: sent before the first question, in the same text. Piped text allowed.",
    )
    sms_thank_you = models.TextField(
        "SMS thank-you text",
        blank=True,
        help_text="Two-way SMS: sent after the last answer. Empty: nothing is sent.",
    )
    sms_invalid_reply_limit = models.PositiveSmallIntegerField(
        "SMS re-asks",
        default=2,
        help_text="Two-way SMS: how many times a question is asked again after a reply that does not answer it.",
    )
    sms_after_invalid_replies = models.CharField(
        "SMS after the re-asks",
        max_length=10,
        choices=SmsAfterInvalidReplies.choices,
        default=SmsAfterInvalidReplies.NEXT_QUESTION,
        help_text="Two-way SMS: what happens when the re-asks are used up and the reply still does not answer.",
    )
    sms_session_expiry_hours = models.PositiveSmallIntegerField(
        "SMS session expiry (hours)",
        default=24,
        validators=[MinValueValidator(1)],
        help_text="Two-way SMS: hours without a reply after which the session expires (status Session Expired).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def title_for_respondents(self) -> str:
        return self.public_title.strip() or DEFAULT_PUBLIC_TITLE


class Question(models.Model):
    class Kind(models.TextChoices):
        MULTIPLE_CHOICE = "multiple_choice", "Multiple choice"
        TEXT = "text", "Text entry"
        RATING = "rating", "Rating 0–10"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField(default=1)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text = models.TextField(help_text="Piped text allowed, e.g. ${m://FirstName} or ${e://Field/Store}.")
    choices = models.TextField(blank=True, help_text="Multiple choice only: one option per line.")
    required = models.BooleanField(default=False)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return f"Q{self.position}. {self.text[:60]}"

    def choice_list(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]


class SurveyField(models.Model):
    """An embedded-data field the survey flow declares: recorded on each response from the contact."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(max_length=200, help_text="Exact name: spelling and case must match the contact's.")
    default_value = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["survey", "name"], name="survey_field_once")]

    def __str__(self):
        return self.name


class Collaborator(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="collaborators")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collaborations")
    can_distribute = models.BooleanField(default=False, help_text="May send this survey (e.g. from a workflow).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["survey", "user"], name="collaborator_once")]

    def __str__(self):
        return f"{self.user} on {self.survey}"


class SenderDomain(models.Model):
    domain = models.CharField(max_length=253, unique=True, help_text="e.g. example.com")
    verified = models.BooleanField(default=False, help_text="Only verified domains may appear in From and Reply-To.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.domain

    def clean(self):
        """The domain as a send compares it (services/sending.py: the part after the @ of the From or
        Reply-To address, lower case): "@Example.com." is saved as example.com. Raises
        ValidationError on `domain` for what no address can end in (a URL, an address, a name
        without a dot) and for a domain saved already in another case, which a send could not tell
        from this one."""
        domain = (self.domain or "").strip().lstrip("@").rstrip(".").lower()
        try:
            DomainNameValidator()(domain)
        except ValidationError:
            raise ValidationError(
                {
                    "domain": f"“{(self.domain or '').strip()}” is not a domain name: give only the part "
                    "after the @ of the sender address, e.g. example.com."
                }
            ) from None
        self.domain = domain
        existing = SenderDomain.objects.filter(domain__iexact=domain).exclude(pk=self.pk).first()
        if existing is not None:
            raise ValidationError(
                {"domain": f"The sender domain {existing.domain} exists already: change it there (mark it verified)."}
            )


MAX_FREQUENCY_PERIOD_DAYS = 3650


class FrequencyRule(models.Model):
    """At most `max_messages` messages to one contact of the directory per rolling `period_days`."""

    directory = models.ForeignKey(Directory, on_delete=models.CASCADE, related_name="frequency_rules")
    # 0 would skip every message; a period of 0 days would count none, and one past the dates a
    # datetime holds would fail every send: neither limits anything as the rule says.
    max_messages = models.PositiveIntegerField(
        validators=[MinValueValidator(1, "At least 1: a rule of 0 messages would skip every invitation.")],
        help_text="At most this many invitations to one contact of the directory…",
    )
    period_days = models.PositiveIntegerField(
        validators=[
            MinValueValidator(1, "At least 1 day."),
            MaxValueValidator(MAX_FREQUENCY_PERIOD_DAYS, "At most 3,650 days (10 years)."),
        ],
        help_text="…in this many days, counted back from each send (1 to 3,650).",
    )

    def __str__(self):
        return f"at most {self.max_messages} messages per {self.period_days} days"


class Distribution(models.Model):
    """One send of a survey by one workflow task run on one channel."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        TWO_WAY_SMS = "two_way_sms", "Two-way SMS"

    public_id = PublicIdField(prefix="EMD_")
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="distributions")
    channel = models.CharField(max_length=12, choices=Channel.choices, default=Channel.EMAIL)
    # The task run that made it: a retried task finds its distribution instead of making another.
    run = models.ForeignKey("workflows.Run", on_delete=models.SET_NULL, null=True, blank=True)
    task_position = models.PositiveSmallIntegerField(null=True, blank=True)
    from_email = models.CharField(max_length=254, blank=True)
    # As rendered from piped text: as long as the values piped into it (the email folds them).
    from_name = models.TextField(blank=True)
    reply_to = models.CharField(max_length=254, blank=True)
    subject = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "task_position", "channel"],
                condition=models.Q(run__isnull=False),
                name="distribution_once_per_task_run",
            )
        ]
        indexes = [
            # the survey's Distributions page: where survey_id = %s order by created_at desc
            models.Index(fields=["survey", "-created_at"], name="distribution_survey_recent"),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} distribution {self.pk} of {self.survey}"


class Invitation(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        EMAIL_SENT = "email_sent", "Email Sent"
        EMAIL_FAILED = "email_failed", "Email Failed"
        EMAIL_OPENED = "email_opened", "Email Opened"
        EMAIL_HARD_BOUNCE = "email_hard_bounce", "Email Hard Bounce"
        EMAIL_SOFT_BOUNCE = "email_soft_bounce", "Email Soft Bounce"
        EMAIL_BLOCKED = "email_blocked", "Email Blocked"
        EMAIL_COMPLAINT = "email_complaint", "Email Complaint"
        EMAIL_SKIPPED = "email_skipped", "Email Skipped"
        OPTED_OUT = "opted_out", "Opted Out"
        SMS_SENT = "sms_sent", "SMS Sent"
        SMS_DELIVERED = "sms_delivered", "SMS Delivered"
        SMS_FAILED = "sms_failed", "SMS Failed"
        SMS_SKIPPED = "sms_skipped", "SMS Skipped"
        SURVEY_STARTED = "survey_started", "Survey Started"
        SURVEY_PARTIALLY_FINISHED = "survey_partially_finished", "Survey Partially Finished"
        SURVEY_FINISHED = "survey_finished", "Survey Finished"
        LINK_EXPIRED = "link_expired", "Link Expired"
        SESSION_EXPIRED = "session_expired", "Session Expired"

    distribution = models.ForeignKey(Distribution, on_delete=models.CASCADE, related_name="invitations")
    # Null once the contact was deleted: the invitation stays in the distribution's figures and
    # keeps its response's answers, erased of everything that named the person
    # (services/erasure.py).
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, related_name="invitations")
    # The survey link's token stays readable, as a workflow's event URL token does: the product must
    # produce the link again after the email (the history CSV's Link column, a delayed or retried
    # send, the SurveyLink task output, the invitation's admin page), and the rendered email kept
    # for sending already holds it. A digest alone would protect it only from someone reading the
    # database, who reads those emails and the responses anyway. Like workflow tokens, it is looked
    # up by its digest, so the lookup's timing says nothing about the token.
    token = models.CharField(max_length=64, unique=True, default=new_invitation_token, editable=False)
    token_digest = TokenDigestField(of="token", unique=True)
    address = models.CharField(max_length=254, blank=True, help_text="Email address or phone number it went to.")
    # A text's survey link is PUBLIC_BASE_URL/r/<short_code>, redirecting to /s/<token>/: a
    # segment holds 160 characters at most, and the token alone takes 32. Empty for email.
    short_code = models.CharField(max_length=16, blank=True, editable=False)
    # The short link opens the survey as the token does: looked up by its digest too.
    short_code_digest = TokenDigestField(of="short_code", blank=True)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.PENDING)
    status_detail = models.TextField(blank=True, help_text="Why it was skipped, failed or bounced.")
    message_id = models.CharField(max_length=255, blank=True, help_text="The Message-ID of the email.")
    expires_at = models.DateTimeField(null=True, blank=True)
    send_after = models.DateTimeField(null=True, blank=True, help_text="Not sent before this time.")
    sent_at = models.DateTimeField(null=True, blank=True)
    # The claim that took the right to send it (see services/delivery.py): invitations claimed
    # together are sent in id order, so after a crash only the first unsent one can be in doubt.
    claim = models.UUIDField(null=True, blank=True, editable=False)
    # The message as rendered for this recipient when the task ran: a delayed send has no run
    # context left to render from, and the admin shows what exactly went out.
    subject = models.TextField(blank=True)  # folded over lines when sent: no length limit
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    # sha256 of subject and bodies with this invitation's token masked, so two invitations with
    # the same message but their own links compare equal (the 12-hour duplicate check).
    content_digest = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["distribution", "contact"], name="invitation_once_per_contact"),
            models.UniqueConstraint(
                fields=["short_code"], condition=~models.Q(short_code=""), name="invitation_short_code_once"
            ),
            # a short link: where short_code_digest = sha256(code) (distributions.selectors)
            models.UniqueConstraint(
                fields=["short_code_digest"],
                condition=~models.Q(short_code_digest=""),
                name="invitation_short_code_digest_once",
            ),
        ]
        indexes = [
            # the send schedule: where status = 'pending' and sent_at is null and send_after <= now
            models.Index(
                fields=["send_after"],
                condition=models.Q(status="pending", sent_at__isnull=True),
                name="invitation_due",
            ),
            # the send schedule's reaper: where status = 'pending' and sent_at < now - lease (in flight)
            models.Index(
                fields=["sent_at"],
                condition=models.Q(status="pending", sent_at__isnull=False),
                name="invitation_in_flight",
            ),
            # tracking webhooks: where message_id = %s
            models.Index(fields=["message_id"], name="invitation_message"),
            # duplicate and frequency checks: where address = %s and sent_at > now - period
            models.Index(fields=["address", "sent_at"], name="invitation_address_sent"),
            # the admin's search by address, in any case: where upper(address) = upper(%s)
            models.Index(Upper("address"), name="invitation_address_ci"),
            models.Index(fields=["contact", "sent_at"], name="invitation_contact_sent"),
            # the dashboard's funnel: where created_at >= now - 14 days
            models.Index(fields=["created_at"], name="invitation_recent"),
            # the API's distribution history, page by page:
            # where distribution_id = %s and id > %s order by id limit %s
            models.Index(fields=["distribution", "id"], name="invitation_distribution_page"),
        ]

    def __str__(self):
        return f"Invitation {self.pk} to {self.address or self.contact or 'a deleted contact'}"


class DeliveryEvent(models.Model):
    """What happened to an invitation, as a provider or the survey page reported it; append-only."""

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32)
    occurred_at = models.DateTimeField()
    provider = models.CharField(max_length=50, blank=True)
    provider_event_id = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            # A webhook delivered twice is recorded once.
            models.UniqueConstraint(
                fields=["provider", "provider_event_id"],
                condition=~models.Q(provider_event_id=""),
                name="delivery_event_once",
            )
        ]

    def __str__(self):
        return f"{self.kind} at {self.occurred_at:%Y-%m-%d %H:%M}"


class Response(models.Model):
    public_id = PublicIdField(prefix="R_")
    invitation = models.OneToOneField(Invitation, on_delete=models.CASCADE, related_name="response")
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="responses")
    answers = models.JSONField(default=dict, blank=True, help_text="Question id → answer.")
    embedded_data = models.JSONField(default=dict, blank=True, help_text="The survey's declared fields.")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # the response export, chunk by chunk: where survey_id = %s and id > %s order by id limit %s
            models.Index(fields=["survey", "id"], name="response_survey_chunk"),
        ]

    def __str__(self):
        return self.response_id

    @property
    def response_id(self) -> str:
        """The Response Id of exports and the API (the reference's `R_...`)."""
        return self.public_id


def response_export_storage():
    """Where export files are kept: settings.STORAGES["response_exports"], private (never served)."""
    return storages["response_exports"]


class ResponseExport(models.Model):
    """An export of a survey's responses to one file, produced by a job (services/response_export.py).

    `options` holds what was asked, in the reference platform's names: format (csv, tsv, json,
    ndjson), compress, useLabels, startDate, endDate (ISO 8601), questionIds, embeddedDataIds.
    """

    class Status(models.TextChoices):
        IN_PROGRESS = "inProgress", "In progress"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"

    public_id = PublicIdField(prefix="ES_")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="exports")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="response_exports"
    )
    options = models.JSONField(default=dict)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    percent_complete = models.PositiveSmallIntegerField(default=0)
    # Named in the download URL once the file is there; another id than the export's, as the
    # reference's fileId is.
    file_id = models.CharField(max_length=64, blank=True, editable=False)
    file_name = models.CharField(max_length=300, blank=True, editable=False, help_text="Its name in the storage.")
    filename = models.CharField(max_length=300, blank=True, help_text="The name the download is offered under.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # the survey's export page: where survey_id = %s order by created_at desc
            models.Index(fields=["survey", "-created_at"], name="response_export_survey_recent"),
        ]

    def __str__(self):
        return f"Export {self.public_id} of {self.survey_id}"


class OutboxMessage(models.Model):
    """An email the local outbox backend kept instead of sending (the embedded default)."""

    message_id = models.CharField(max_length=255, blank=True)
    from_email = models.CharField(max_length=254)
    to = models.TextField()
    subject = models.TextField(blank=True)
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.subject} → {self.to}"


class SmsConversation(models.Model):
    """The texts exchanged with one phone number, whatever the provider: each conversation is a
    thread in the admin. Its row is locked while a text from the number is handled, so two texts
    from one number are handled one at a time, in the order they got the lock."""

    phone = models.CharField(max_length=16, unique=True, help_text="E.164, e.g. +14155550100.")
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "SMS conversation"
        ordering = ["-last_message_at", "-id"]

    def __str__(self):
        return f"SMS conversation with {self.phone}"


class SmsMessage(models.Model):
    """One text sent to or received from a conversation's number.

    With the local SMS outbox (the embedded default) nothing leaves the machine: the rows are the
    outbox. With Twilio they are the log that makes webhooks idempotent (`message_sid`) and that
    status callbacks move forward.
    """

    class Direction(models.TextChoices):
        OUTBOUND = "outbound", "Sent"
        INBOUND = "inbound", "Received"

    class Status(models.TextChoices):
        # Twilio's MessageStatus values (Message resource, "Message Status values").
        RECEIVED = "received", "Received"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"

    class Keyword(models.TextChoices):
        NONE = "", "—"
        OPT_OUT = "opt_out", "Opt-out (STOP)"
        OPT_IN = "opt_in", "Opt-in (START)"
        HELP = "help", "Help"

    conversation = models.ForeignKey(SmsConversation, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    body = models.TextField(blank=True)
    our_number = models.CharField(
        max_length=34, blank=True, help_text="Our sender: a number, or a Twilio Messaging Service SID."
    )
    provider = models.CharField(max_length=20, help_text="twilio, or outbox (kept here, never sent).")
    # Twilio's MessageSid (SM...); a local one for the outbox. Empty only for a reply whose SID
    # Twilio has not told us yet.
    message_sid = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices)
    error_code = models.CharField(max_length=10, blank=True, help_text="Twilio's ErrorCode.")
    status_detail = models.TextField(blank=True, help_text="What the error code means, or why it failed.")
    segments = models.PositiveSmallIntegerField(default=0)
    keyword = models.CharField(max_length=8, choices=Keyword.choices, blank=True, default="")
    in_reply_to = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replies")
    invitation = models.ForeignKey(
        Invitation, on_delete=models.SET_NULL, null=True, blank=True, related_name="sms_messages"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SMS message"
        ordering = ["created_at", "id"]
        constraints = [
            # Twilio retries webhooks: a MessageSid is recorded once.
            models.UniqueConstraint(
                fields=["message_sid"], condition=~models.Q(message_sid=""), name="sms_message_sid_once"
            )
        ]
        indexes = [
            # the admin's thread: where conversation_id = %s order by id
            models.Index(fields=["conversation", "id"], name="sms_message_thread"),
        ]

    def __str__(self):
        arrow = "→" if self.direction == self.Direction.OUTBOUND else "←"
        return f"{arrow} {self.conversation.phone}: {self.body[:40]}"


class SmsSession(models.Model):
    """A two-way SMS survey in progress with one number: the question asked last, and how it
    ended (services/sms_sessions.py). At most one session per conversation is open; it is only
    ever changed with the conversation's row locked. A session started when its invitation is
    claimed waits for its text to go before it becomes the number's open session."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting for its text"
        OPEN = "open", "Open"
        FINISHED = "finished", "Finished"
        EXPIRED = "expired", "Expired"
        CLOSED = "closed", "Closed"
        STOPPED = "stopped", "Stopped (opted out)"

    invitation = models.OneToOneField(Invitation, on_delete=models.CASCADE, related_name="sms_session")
    conversation = models.ForeignKey(SmsConversation, on_delete=models.CASCADE, related_name="sessions")
    question = models.ForeignKey(
        Question, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", help_text="Asked last."
    )
    reasks = models.PositiveSmallIntegerField(default=0, help_text="Times the current question was asked again.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    state_detail = models.CharField(max_length=300, blank=True, help_text="Why it ended.")
    last_activity_at = models.DateTimeField()
    expires_at = models.DateTimeField(help_text="Expires at this time unless a reply comes first.")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SMS survey session"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"], condition=models.Q(state="open"), name="sms_session_open_once"
            )
        ]
        indexes = [
            # the expiry job: where state = 'open' and expires_at <= now
            models.Index(fields=["expires_at"], condition=models.Q(state="open"), name="sms_session_due"),
        ]

    def __str__(self):
        return f"SMS survey session {self.pk} with {self.conversation.phone}"
