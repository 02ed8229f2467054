"""Surveys in the admin: questions, declared embedded data, collaborators, status and the Distributions page."""

import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from distributions.admin.display import RequestBoundChangePageMixin, history_csv_url, survey_report_links
from distributions.admin.exports import export_urls
from distributions.models import SURVEY_TEXT_SCHEMES, Collaborator, Question, Survey, SurveyField
from distributions.selectors import (
    distributions_with_counts,
    survey_field_case_clashes,
    survey_may_share,
    survey_owner_choices,
)
from distributions.services.response_export import EXPORT_VIEW_PERMISSIONS
from distributions.services.sms_sessions import question_sms_askable, survey_sms_unaskable
from distributions.services.surveys import SurveyError, survey_set_status
from workflows.admin.display import UserNamedAsTextMixin
from workflows.admin.piping import add_piped_text_menu
from workflows.piping import validate
from workflows.tasks.forms import PipedTextarea

DISTRIBUTIONS_PER_PAGE = 50
# The survey's two-way SMS settings (services/sms_sessions.py).
SMS_FIELDS = [
    "sms_introduction",
    "sms_thank_you",
    "sms_invalid_reply_limit",
    "sms_after_invalid_replies",
    "sms_session_expiry_hours",
]
SMS_DEFAULTED_FIELDS = ("sms_invalid_reply_limit", "sms_after_invalid_replies", "sms_session_expiry_hours")
# The Distributions page lists the survey's distributions with their invitations counted by status.
DISTRIBUTIONS_PAGE_PERMISSIONS = ("distributions.view_distribution", "distributions.view_invitation")


def survey_text_errors(text: str) -> list[str]:
    """The piped text of a survey's text: wrong tokens, look-alikes, and tokens its page cannot fill."""
    return validate(text or "", schemes=SURVEY_TEXT_SCHEMES)


class SurveyForm(forms.ModelForm):
    # The users this form offers, and accepts, as the owner: set by SurveyAdmin.get_form.
    owner_choices = None

    class Meta:
        model = Survey
        fields = ["name", "public_title", "owner", "introduction", "thank_you", *SMS_FIELDS]
        widgets = {
            "introduction": PipedTextarea(attrs={"rows": 4, "cols": 80}, schemes=SURVEY_TEXT_SCHEMES),
            "thank_you": PipedTextarea(attrs={"rows": 2, "cols": 80}, schemes=SURVEY_TEXT_SCHEMES),
            "sms_introduction": PipedTextarea(attrs={"rows": 2, "cols": 80}, schemes=SURVEY_TEXT_SCHEMES),
            "sms_thank_you": PipedTextarea(attrs={"rows": 2, "cols": 80}, schemes=SURVEY_TEXT_SCHEMES),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.owner_choices is not None and "owner" in self.fields:
            self.fields["owner"].queryset = self.owner_choices
        # Left empty (a form that predates them, a script), the SMS settings keep their defaults.
        for name in SMS_DEFAULTED_FIELDS:
            if name in self.fields:  # read-only for who may only view
                self.fields[name].required = False

    def clean(self):
        cleaned = super().clean()
        for name in SMS_DEFAULTED_FIELDS:
            if name in self.fields and cleaned.get(name) in (None, ""):
                cleaned[name] = Survey._meta.get_field(name).get_default()
        for name in ("introduction", "thank_you", "sms_introduction", "sms_thank_you"):
            for error in survey_text_errors(cleaned.get(name)):
                self.add_error(name, error)
        return cleaned


class QuestionForm(forms.ModelForm):
    class Meta:
        model = Question
        fields = ["position", "kind", "text", "choices", "required"]
        widgets = {
            "text": PipedTextarea(attrs={"rows": 2, "cols": 50}, schemes=SURVEY_TEXT_SCHEMES),
            "choices": forms.Textarea(attrs={"rows": 3, "cols": 30}),
        }

    def clean_text(self):
        text = self.cleaned_data["text"]
        errors = survey_text_errors(text)
        if errors:
            raise forms.ValidationError(errors)
        return text

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("kind") == Question.Kind.MULTIPLE_CHOICE
            and not Question(choices=cleaned.get("choices", "")).choice_list()
        ):
            self.add_error("choices", "A multiple-choice question needs its options, one per line.")
        return cleaned


class QuestionInline(admin.TabularInline):
    model = Question
    form = QuestionForm
    extra = 0
    readonly_fields = ["asked_by_text"]

    @admin.display(description="Asked by two-way SMS")
    def asked_by_text(self, question):
        if question.pk is None:
            return "—"
        askable = question_sms_askable(question)
        return "Yes" if askable.yes else f"No (skipped): {askable.reason}"


class SurveyFieldInline(admin.TabularInline):
    model = SurveyField
    fields = ["name", "default_value"]
    extra = 0
    verbose_name = "embedded-data field"
    verbose_name_plural = "embedded-data fields (recorded on each response from the contact's embedded data)"


class CollaboratorInline(UserNamedAsTextMixin, admin.TabularInline):
    model = Collaborator
    fields = ["user", "can_distribute"]
    user_fields = ("user",)
    autocomplete_fields = ["user"]
    extra = 0

    @admin.display(description="User")
    def user_name(self, collaborator):
        return str(collaborator.user)

    # Who collaborates decides who may distribute the survey: its owner's (or a superuser's) to change.
    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and survey_may_share(user=request.user, survey=obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and survey_may_share(user=request.user, survey=obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and survey_may_share(user=request.user, survey=obj)


@admin.register(Survey)
class SurveyAdmin(RequestBoundChangePageMixin, UserNamedAsTextMixin, admin.ModelAdmin):
    list_display = ["name", "status", "owner", "question_count", "distributions_link"]
    list_filter = ["status"]
    list_select_related = ["owner"]
    search_fields = ["name"]
    autocomplete_fields = ["owner"]
    user_fields = ("owner",)
    form = SurveyForm
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "public_title",
                    "owner",
                    "status",
                    "activity",
                    "introduction",
                    "thank_you",
                    ("created_at", "updated_at"),
                ]
            },
        ),
        ("Two-way SMS survey", {"fields": SMS_FIELDS}),
    ]
    readonly_fields = ["status", "activity", "created_at", "updated_at"]
    inlines = [QuestionInline, SurveyFieldInline, CollaboratorInline]
    actions = ["activate", "pause", "close"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(question_count=Count("questions"))

    def get_list_display(self, request):
        # The column links to the Distributions page: only for who may open it.
        list_display = super().get_list_display(request)
        if self.may_open_distributions(request):
            return list_display
        return [name for name in list_display if name != "distributions_link"]

    def get_changeform_initial_data(self, request):
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        # The owner decides who may distribute the survey: see CollaboratorInline.
        return readonly if survey_may_share(user=request.user, survey=obj) else [*readonly, "owner"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"owner_choices": survey_owner_choices(user=request.user, survey=obj)})

    def get_urls(self):
        distributions = self.admin_site.admin_view(self.distributions_view)
        return [
            path("<path:object_id>/distributions/", distributions, name="distributions_survey_distributions"),
            *export_urls(self),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            survey = self.get_object(request, unquote(object_id))
            # The warning names contacts' fields: only for who may open the page it is shown on.
            if survey is not None and self.has_view_or_change_permission(request, survey):
                self.warn_about_case_clashes(request, survey)
                self.warn_about_sms_skips(request, survey)
        extra_context = {**(extra_context or {}), "may_export": request.user.has_perms(EXPORT_VIEW_PERMISSIONS)}
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        editable = self.has_add_permission(request) if add else self.has_change_permission(request, obj)
        declared = obj.fields.values_list("name", flat=True) if obj is not None and obj.pk else ()
        add_piped_text_menu(context, request, editable=editable, workflow=None, embedded_data_names=declared)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def warn_about_sms_skips(self, request, survey):
        for question, reason in survey_sms_unaskable(survey=survey):
            self.message_user(
                request,
                f"Question {question.position} cannot be asked by text; a two-way SMS survey skips it. {reason}",
                messages.WARNING,
            )

    def warn_about_case_clashes(self, request, survey):
        for name, others in survey_field_case_clashes(survey=survey).items():
            spellings = ", ".join(f"“{other}”" for other in others)
            self.message_user(
                request,
                f"The embedded-data field “{name}” differs only by case from {spellings} (recent contacts or "
                "another field). A response records a value only under the exact name: use one spelling.",
                messages.WARNING,
            )

    @admin.display(description="Owner")
    def owner_name(self, survey):
        return str(survey.owner)

    @admin.display(description="Questions", ordering="question_count")
    def question_count(self, survey):
        return survey.question_count

    @admin.display(description="Distributions")
    def distributions_link(self, survey):
        url = reverse("admin:distributions_survey_distributions", args=[survey.pk])
        return format_html('<a href="{}">Distributions</a>', url)

    @admin.display(description="Activity")
    def activity(self, survey):
        if not survey.pk:
            return "Save the survey first. Activate it from the survey list (Actions) to distribute it."
        # Only the pages the user may open: their labels say nothing of the survey.
        links = []
        if self.may_open_distributions(self.request):
            links.append((reverse("admin:distributions_survey_distributions", args=[survey.pk]), "Distributions"))
        csv_url = history_csv_url("survey", survey.pk, self.request)
        if csv_url:
            links.append((csv_url, "Download the distribution history (CSV)"))
        links.extend((url, label) for label, url in survey_report_links(survey.pk, self.request))
        return format_html_join(" · ", '<a href="{}">{}</a>', links) or "—"

    # --- status actions -----------------------------------------------------------------------

    @admin.action(description="Activate selected surveys (they can be distributed)", permissions=["change"])
    def activate(self, request, queryset):
        self.set_status(request, queryset, Survey.Status.ACTIVE)

    @admin.action(description="Pause selected surveys", permissions=["change"])
    def pause(self, request, queryset):
        self.set_status(request, queryset, Survey.Status.PAUSED)

    @admin.action(description="Close selected surveys", permissions=["change"])
    def close(self, request, queryset):
        self.set_status(request, queryset, Survey.Status.CLOSED)

    def set_status(self, request, queryset, status):
        changed = []
        for survey in queryset:
            try:
                if survey_set_status(survey=survey, status=status):
                    changed.append(survey.name)
            except SurveyError as error:
                self.message_user(request, str(error), messages.ERROR)
        if changed:
            label = Survey.Status(status).label.lower()
            self.message_user(request, f"Now {label}: {', '.join(changed)}.")

    # --- the Distributions page ---------------------------------------------------------------

    def may_open_distributions(self, request) -> bool:
        return (
            request is not None
            and self.has_view_permission(request)
            and request.user.has_perms(DISTRIBUTIONS_PAGE_PERMISSIONS)
        )

    def distributions_view(self, request, object_id):
        if not self.may_open_distributions(request):
            raise PermissionDenied
        survey = self.get_object(request, unquote(object_id))
        if survey is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        page = _page_number(request)
        offset = (page - 1) * DISTRIBUTIONS_PER_PAGE
        # One row more than shown tells whether an older page exists, without counting them all.
        rows = distributions_with_counts(survey=survey, offset=offset, limit=DISTRIBUTIONS_PER_PAGE + 1)
        invitations_url = reverse("admin:distributions_invitation_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "survey": survey,
            "title": f"Distributions of {survey}",
            "distributions": [
                (
                    distribution,
                    f"{invitations_url}?distribution={distribution.pk}",
                    history_csv_url("distribution", distribution.pk, request),
                )
                for distribution in rows[:DISTRIBUTIONS_PER_PAGE]
            ],
            "page": page,
            "newer_page": page - 1 if page > 1 else None,
            "older_page": page + 1 if len(rows) > DISTRIBUTIONS_PER_PAGE else None,
            "survey_csv_url": history_csv_url("survey", survey.pk, request),
            "survey_invitations_url": f"{invitations_url}?survey={survey.pk}",
        }
        return TemplateResponse(request, "admin/distributions/survey/distributions.html", context)


# Page numbers as ASCII digits, few enough that the page's offset fits the database's bigint.
_PAGE_NUMBER = re.compile(r"[0-9]{1,9}")


def _page_number(request) -> int:
    value = request.GET.get("p", "1")
    return max(int(value), 1) if _PAGE_NUMBER.fullmatch(value) else 1
