"""The XM Directory task in mode "Distribute survey" by email invitation.

Registered into workflows' task registry from DistributionsConfig.ready(). The recipient fields
and the mailing list are the Add to Directory form's (`ContactFieldsForm`), and the contact is
saved by the same `save_contacts`, in embedded-data mode.

The survey is stored in the config by name, like the directory and the mailing list: a workflow
export holds no installation's ids, so it imports elsewhere and finds the survey of that name.
"""

from datetime import timedelta

from django import forms
from django.conf import settings

from distributions.models import Survey
from distributions.services.sending import surveys_distribute_email
from workflows.piping import tokens
from workflows.tasks.add_to_directory import ContactFieldsForm
from workflows.tasks.batch import run_alone
from workflows.tasks.context import TaskContext
from workflows.tasks.registry import TaskError, TaskKind

DELAY_UNITS = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1), "days": timedelta(days=1)}
SURVEY_LINKS = {"SurveyLink", "SurveyURL"}


def _piped(label, *, required=False, help_text=""):
    return forms.CharField(
        label=label, required=required, max_length=1000, help_text=help_text, widget=forms.TextInput(attrs={"size": 60})
    )


def _body(label, help_text):
    return forms.CharField(
        label=label, required=False, help_text=help_text, widget=forms.Textarea(attrs={"rows": 10, "cols": 80})
    )


class DistributeSurveyForm(ContactFieldsForm):
    survey = forms.ChoiceField(
        help_text="Only an active survey is sent; the workflow's owner must own it or be a collaborator "
        "allowed to distribute it.",
        error_messages={"invalid_choice": "There is no survey named %(value)s: choose one of the list."},
    )
    from_email = _piped("From address")
    from_name = _piped("From name", help_text="e.g. Customer care")
    reply_to = _piped(
        "Reply-To", help_text="Empty: none. An address of a verified sender domain, or the workflow owner's email."
    )
    subject = _piped("Subject", required=True, help_text="e.g. How did we do with case ${event://CaseNumber}?")
    html_body = _body(
        "HTML body",
        "Piped text allowed: ${m://FirstName}, ${e://Field/Name}, ${l://SurveyLink?d=Take the survey}, "
        "${l://OptOutLink?d=Unsubscribe}. Values are HTML-escaped.",
    )
    text_body = _body(
        "Text body", "Empty: made from the HTML body. ${l://SurveyURL} and ${l://OptOutURL} give the bare links."
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

    field_order = ["survey"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        default_sender = settings.DEFAULT_FROM_EMAIL
        self.fields[
            "from_email"
        ].help_text = f"Empty: the default sender, {default_sender}. Its domain must be a verified sender domain."
        surveys = Survey.objects.order_by("name").values_list("name", "status")
        self.fields["survey"].choices = [("", "---------")] + [
            (name, f"{name} ({Survey.Status(status).label.lower()})") for name, status in surveys
        ]

    def clean_survey(self):
        name = self.cleaned_data["survey"]
        if Survey.objects.filter(name=name).count() > 1:
            raise forms.ValidationError(f'Several surveys are named "{name}": rename all but one, then choose it.')
        return name

    def clean(self):
        cleaned = super().clean()
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
        return cleaned


def run_batch(contexts: list[TaskContext]) -> list:
    config = contexts[0].config
    days = config.get("link_expiration_days")
    delay = (config.get("send_delay") or 0) * DELAY_UNITS.get(config.get("send_delay_unit") or "", timedelta(minutes=1))
    results = surveys_distribute_email(
        contexts=contexts,
        survey_name=config.get("survey") or "",
        link_expiration=timedelta(days=days) if days else None,
        send_delay=delay,
    )
    return [result if isinstance(result, TaskError) else result.outputs() for result in results]


KIND = TaskKind(
    name="distribute_survey",
    label="XM Directory: distribute survey (email)",
    config_form=DistributeSurveyForm,
    run=run_alone(run_batch),
    run_batch=run_batch,
    outputs=("ContactId", "DistributionId", "InvitationId", "SurveyLink", "Outcome"),
)
