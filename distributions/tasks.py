"""The XM Directory task in mode "Distribute survey": by email invitation (the default, so tasks
and workflow exports made before there was a choice keep their meaning), SMS invitation, or
two-way SMS survey (`method`).

Registered into workflows' task registry from DistributionsConfig.ready(). The recipient fields
and the mailing list are those every contact-saving kind shares (`workflows.tasks.contacts`), and
the contact is saved the same way as by Add to Directory in embedded-data mode.

The survey is stored in the config by id, so renaming it keeps every task that distributes it.
A workflow export holds no installation's ids: it names the survey, and the import finds the
survey of that name (`export_config`, `import_config`).
"""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from distributions.models import Distribution, Survey
from distributions.selectors import survey_short_link
from distributions.services.sending import distribute_config_problems, surveys_distribute
from workflows.piping import tokens
from workflows.tasks.contacts import CONTACT_FIELDS, ContactFieldsForm
from workflows.tasks.context import TaskContext
from workflows.tasks.forms import PipedTextarea, PipedTextInput
from workflows.tasks.registry import TaskError, TaskKind

DELAY_UNITS = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1), "days": timedelta(days=1)}
SURVEY_LINKS = {"SurveyLink", "SurveyURL"}
# The task's `method` -> the channel its distributions and invitations record.
EMAIL, SMS, TWO_WAY_SMS = "email", "sms", "two_way_sms"
METHODS = {
    EMAIL: Distribution.Channel.EMAIL,
    SMS: Distribution.Channel.SMS,
    TWO_WAY_SMS: Distribution.Channel.TWO_WAY_SMS,
}
METHOD_CHOICES = [(EMAIL, "Email invitation"), (SMS, "SMS invitation"), (TWO_WAY_SMS, "Two-way SMS survey")]


def task_method(config: dict) -> str:
    """The method of a task's config: "email" when it has none (saved before there was a choice)."""
    method = config.get("method") or EMAIL
    return method if method in METHODS else EMAIL


def _piped(label, *, required=False, help_text=""):
    return forms.CharField(
        label=label, required=required, max_length=1000, help_text=help_text, widget=PipedTextInput(attrs={"size": 60})
    )


def _body(label, help_text):
    return forms.CharField(
        label=label, required=False, help_text=help_text, widget=PipedTextarea(attrs={"rows": 10, "cols": 80})
    )


class SmsTextarea(PipedTextarea):
    """A piped-text textarea with the segment counter under it (static/distributions/sms_segments.js:
    characters and segments as typed, the same rule as channels/segments.py)."""

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        # Each survey link counts as the short link it becomes (its code is 10 characters).
        context["widget"]["attrs"]["data-sms-segments"] = str(len(survey_short_link("x" * 10)))
        return context

    @property
    def media(self):
        return super().media + forms.Media(js=["distributions/sms_segments.js"])


_SENDER_ADVICE = "Write one such as care@example.com (the name goes in From name), or pipe the field that holds it."


class DistributeSurveyForm(ContactFieldsForm):
    survey = forms.TypedChoiceField(
        coerce=int,
        help_text="Only an active survey is sent; the workflow's owner must own it or be a collaborator "
        "allowed to distribute it.",
        error_messages={"invalid_choice": "That survey no longer exists: choose one of the list."},
    )
    # Not required: a form posted without it (an older admin page, a script) means email, as before.
    method = forms.ChoiceField(
        choices=METHOD_CHOICES,
        required=False,
        initial=EMAIL,
        help_text="Email invitation: the message below with an individual link. SMS invitation: a text with an "
        "individual short link. Two-way SMS survey: the questions asked and answered by text, one per message. "
        "The SMS methods text the contact's Phone.",
    )
    from_email = _piped("From address")
    from_name = _piped("From name", help_text="e.g. Customer care")
    reply_to = _piped(
        "Reply-To", help_text="Empty: none. An address of a verified sender domain, or the workflow owner's email."
    )
    subject = _piped("Subject", help_text="Email invitation. e.g. How did we do with case ${event://CaseNumber}?")
    html_body = _body(
        "HTML body",
        "Piped text allowed: ${m://FirstName}, ${e://Field/Name}, ${l://SurveyLink?d=Take the survey}, "
        "${l://OptOutLink?d=Unsubscribe}. Values are HTML-escaped.",
    )
    text_body = _body(
        "Text body", "Empty: made from the HTML body. ${l://SurveyURL} and ${l://OptOutURL} give the bare links."
    )
    sms_text = forms.CharField(
        label="SMS text",
        required=False,
        max_length=1600,
        help_text="SMS invitation. Piped text allowed: ${m://FirstName}, ${e://Field/Name}; ${l://SurveyURL} gives "
        "the individual short link. Over 160 characters (70 with any character outside GSM-7, such as an emoji), "
        "the text is sent in several segments, each billed. The counter counts each survey link as the short "
        "link it becomes, other piped text as typed.",
        widget=SmsTextarea(attrs={"rows": 4, "cols": 80}),
    )
    link_expiration_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Days the survey link works after sending. Empty: never expires.",
    )
    send_delay = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=100_000,
        initial=0,
        help_text="0 or empty: send as soon as the task runs.",
    )
    send_delay_unit = forms.ChoiceField(choices=[(unit, unit) for unit in DELAY_UNITS], initial="minutes")

    field_order = ["survey", "method"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Required by the email method only (clean): a text reaches the contact by phone.
        self.fields["email"].required = False
        self.fields["email"].help_text = "e.g. ${event://Email}. Required for an email invitation."
        default_sender = settings.DEFAULT_FROM_EMAIL
        self.fields[
            "from_email"
        ].help_text = f"Empty: the default sender, {default_sender}. Its domain must be a verified sender domain."
        surveys = Survey.objects.order_by("name", "pk").values_list("pk", "name", "status")
        self.fields["survey"].choices = [("", "---------")] + [
            (pk, f"{name} ({Survey.Status(status).label.lower()})") for pk, name, status in surveys
        ]

    # An address written out must be one; its sender domain is only warned about when saved
    # (config_warnings), since the domain may be verified later.
    def clean_from_email(self):
        return self.address_checked("from_email", label="From address", refusal="From address ", advice=_SENDER_ADVICE)

    def clean_reply_to(self):
        return self.address_checked("reply_to", label="Reply-To", refusal="Reply-To ", advice=_SENDER_ADVICE)

    def clean(self):
        cleaned = super().clean()
        method = cleaned["method"] = cleaned.get("method") or EMAIL
        if method == EMAIL:
            self._clean_email(cleaned)
            return cleaned
        if not (cleaned.get("phone") or "").strip() and "phone" not in self.errors:
            self.add_error(
                "phone",
                "The SMS methods text this number: pipe the contact's mobile phone, e.g. ${event://MobilePhone}.",
            )
        if method == SMS:
            self._clean_sms_text(cleaned.get("sms_text") or "")
        return cleaned

    def _clean_sms_text(self, text: str) -> None:
        if not text.strip():
            self.add_error("sms_text", "Write the text of the SMS invitation.")
        elif not any(token.scheme == "l" and token.path.partition("?")[0] in SURVEY_LINKS for token in tokens(text)):
            self.add_error(
                "sms_text", "The text has no survey link: add ${l://SurveyURL}, so each recipient gets their own link."
            )

    def _clean_email(self, cleaned: dict) -> None:
        for name in ("email", "subject"):
            if not (cleaned.get(name) or "").strip() and name not in self.errors:
                self.add_error(name, forms.Field.default_error_messages["required"])
        bodies = [cleaned.get("html_body") or "", cleaned.get("text_body") or ""]
        if not any(body.strip() for body in bodies):
            self.add_error("html_body", "Write the message: an HTML body, a text body, or both.")
        elif not any(
            token.scheme == "l" and token.path.partition("?")[0] in SURVEY_LINKS
            for body in bodies
            for token in tokens(body)
        ):
            self.add_error(
                "html_body",
                "The message has no survey link: add ${l://SurveyLink?d=Take the survey} (HTML) or ${l://SurveyURL}, "
                "so each recipient gets their individual link.",
            )


def export_config(config: dict) -> dict:
    """The config as a workflow export holds it: the survey by name ("" if it was deleted)."""
    survey = config.get("survey")
    if isinstance(survey, int):
        survey = Survey.objects.filter(pk=survey).values_list("name", flat=True).first()
    return {**config, "survey": survey or ""}


def import_config(config: dict) -> dict:
    """A workflow export's config with its survey name resolved to this installation's survey id.

    Raises ValidationError({"survey": message}) when no survey, or more than one, has the name."""
    name = config.get("survey")
    if not name:
        return config
    ids = list(Survey.objects.filter(name=name).values_list("pk", flat=True)[:2])
    if not ids:
        raise ValidationError({"survey": f'There is no survey named "{name}": create it, or edit the file.'})
    if len(ids) > 1:
        raise ValidationError(
            {"survey": f'Several surveys are named "{name}": rename all but one, so the import knows which to send.'}
        )
    return {**config, "survey": ids[0]}


def config_warnings(config: dict, workflow) -> list[str]:
    return distribute_config_problems(config=config, owner=workflow.owner, channel=METHODS[task_method(config)])


def run_batch(contexts: list[TaskContext]) -> list:
    config = contexts[0].config
    days = config.get("link_expiration_days")
    delay = (config.get("send_delay") or 0) * DELAY_UNITS.get(config.get("send_delay_unit") or "", timedelta(minutes=1))
    results = surveys_distribute(
        contexts=contexts,
        survey_id=config.get("survey"),
        link_expiration=timedelta(days=days) if days else None,
        send_delay=delay,
        channel=METHODS[task_method(config)],
    )
    return [result if isinstance(result, TaskError) else result.outputs() for result in results]


KIND = TaskKind(
    name="distribute_survey",
    label="XM Directory: distribute survey",
    config_form=DistributeSurveyForm,
    run_batch=run_batch,
    # Channel and Phone: the SMS methods' runs only.
    outputs=("ContactId", "DistributionId", "InvitationId", "SurveyLink", "Outcome", "Channel", "Phone"),
    # Erased with the contact: Phone is theirs, and Outcome may quote their name, address or phone
    # (an opt-out, a duplicate). The survey link stays: it opens nothing once the contact is gone.
    outputs_kept_on_erasure=("ContactId", "DistributionId", "InvitationId", "SurveyLink", "Channel"),
    export_config=export_config,
    import_config=import_config,
    config_warnings=config_warnings,
    # Email first: a test event's test address takes its place; the others would find the real contact.
    recipient_fields=("email", "external_data_reference", "phone"),
    contact_fields=CONTACT_FIELDS,
)
