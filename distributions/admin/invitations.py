"""Distributions, invitations with their delivery events, and responses: read-only history.

The system appends these (the distribute task, provider webhooks, the survey page); the admin shows them.
"""

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from directory.admin import data_table
from distributions.admin.display import (
    RequestBoundChangePageMixin,
    change_link,
    history_csv_url,
    may_open_admin_page,
    preformatted,
    sandboxed_html,
)
from distributions.channels.phones import sms_phone_number
from distributions.models import DeliveryEvent, Distribution, Invitation, Response, Survey
from distributions.selectors import response_answer_rows, survey_link
from workflows.admin.display import is_row_id
from workflows.admin.history import ReadOnlyMixin
from workflows.admin.pagination import KeysetPaginationMixin
from workflows.models import token_digest


class ChosenObjectFilter(admin.SimpleListFilter):
    """A filter set by links (`?distribution=12`), listing only the chosen object: the full list is too long."""

    model = None
    field = ""

    def lookups(self, request, model_admin):
        value = self.value()
        chosen = self.model.objects.filter(pk=value).first() if value and is_row_id(value) else None
        return [(str(chosen.pk), str(chosen))] if chosen else []

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(**{self.field: value}) if is_row_id(value) else queryset.none()


class InvitationDistributionFilter(ChosenObjectFilter):
    title = parameter_name = "distribution"
    model, field = Distribution, "distribution_id"


class InvitationSurveyFilter(ChosenObjectFilter):
    title = parameter_name = "survey"
    model, field = Survey, "distribution__survey_id"


class DistributionSurveyFilter(ChosenObjectFilter):
    title = parameter_name = "survey"
    model, field = Survey, "survey_id"


@admin.register(Distribution)
class DistributionAdmin(RequestBoundChangePageMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "survey", "channel", "subject", "workflow", "created_at"]
    list_filter = [DistributionSurveyFilter, "channel"]
    list_select_related = ["survey", "run__workflow"]
    search_fields = ["=id", "subject"]
    ordering = ["-id"]
    show_full_result_count = False
    fields = [
        "survey",
        "channel",
        "workflow",
        "run_link",
        "task_position",
        "from_email",
        "from_name",
        "reply_to",
        "subject",
        "created_at",
        "history_links",
    ]
    readonly_fields = fields

    @admin.display(description="Workflow")
    def workflow(self, distribution):
        return distribution.run.workflow if distribution.run else "—"

    @admin.display(description="Run")
    def run_link(self, distribution):
        return change_link(distribution.run, self.request)

    @admin.display(description="History")
    def history_links(self, distribution):
        links = []
        if may_open_admin_page(Invitation, self.request):
            url = reverse("admin:distributions_invitation_changelist")
            links.append(format_html('<a href="{}?distribution={}">Invitations</a>', url, distribution.pk))
        csv_url = history_csv_url("distribution", distribution.pk, self.request)
        if csv_url:
            links.append(format_html('<a href="{}">Download the distribution history (CSV)</a>', csv_url))
        return format_html_join(" · ", "{}", ((link,) for link in links)) or "—"


class DeliveryEventInline(ReadOnlyMixin, admin.TabularInline):
    model = DeliveryEvent
    fields = ["occurred_at", "kind", "provider", "description", "provider_data"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "delivery events (oldest first)"

    @admin.display(description="Provider data")
    def provider_data(self, event):
        return data_table(event.data)


@admin.register(Invitation)
class InvitationAdmin(RequestBoundChangePageMixin, KeysetPaginationMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "contact", "address", "status", "distribution", "sent_at", "updated_at"]
    list_filter = [InvitationSurveyFilter, InvitationDistributionFilter, "status", "distribution__channel"]
    list_select_related = ["contact", "distribution__survey"]
    search_fields = ["address", "message_id", "token"]  # shows the search box; get_search_results matches
    search_help_text = "A whole email address or phone number, a Message-ID or a survey link's token (exact)."
    ordering = ["-id"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "survey",
                    "distribution_link",
                    "contact_link",
                    "address",
                    "status",
                    "status_detail",
                    "link",
                    "expires_at",
                    "send_after",
                    "sent_at",
                    "message_id",
                    "response_link",
                    ("created_at", "updated_at"),
                ]
            },
        ),
        ("Message as rendered for this recipient", {"fields": ["subject", "html_preview", "text_pre"]}),
    ]
    # Model fields show read-only anyway (nobody may change an invitation); these are computed.
    readonly_fields = [
        "survey",
        "distribution_link",
        "contact_link",
        "link",
        "response_link",
        "html_preview",
        "text_pre",
    ]
    inlines = [DeliveryEventInline]

    def get_search_results(self, request, queryset, search_term):
        """Whole values only, each found through an index at any size: the address in any case
        (invitation_address_ci), the Message-ID as sent (invitation_message), the token by its
        digest, as the survey page finds it; a phone number as people write it, in E.164. (Django's
        "=field" search compares UPPER() of each, which no plain index serves on PostgreSQL: every
        search read the whole table.)"""
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = Q(address__iexact=term) | Q(message_id=term) | Q(token_digest=token_digest(term))
        if "@" not in term:
            # A text's address is stored in E.164: "(415) 555-0100" finds +14155550100.
            try:
                matches |= Q(address=sms_phone_number(term))
            except ValueError:
                pass
        return queryset.filter(matches), False

    @admin.display(description="Survey")
    def survey(self, invitation):
        return change_link(invitation.distribution.survey, self.request)

    @admin.display(description="Distribution")
    def distribution_link(self, invitation):
        return change_link(invitation.distribution, self.request)

    @admin.display(description="Contact")
    def contact_link(self, invitation):
        return change_link(invitation.contact, self.request)

    @admin.display(description="Survey link")
    def link(self, invitation):
        url = survey_link(invitation.token)
        return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', url, url)

    @admin.display(description="Response")
    def response_link(self, invitation):
        return change_link(Response.objects.filter(invitation=invitation).first(), self.request)

    @admin.display(description="HTML body")
    def html_preview(self, invitation):
        return sandboxed_html(invitation.html_body)

    @admin.display(description="Text body")
    def text_pre(self, invitation):
        return preformatted(invitation.text_body)


@admin.register(Response)
class ResponseAdmin(RequestBoundChangePageMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["__str__", "survey", "invitation", "started_at", "finished_at"]
    list_filter = ["survey"]
    list_select_related = ["survey", "invitation"]
    ordering = ["-id"]
    show_full_result_count = False
    fields = ["survey", "invitation_link", "started_at", "finished_at", "answer_table", "embedded_data_table"]
    readonly_fields = fields

    @admin.display(description="Invitation")
    def invitation_link(self, response):
        return change_link(response.invitation, self.request)

    @admin.display(description="Answers")
    def answer_table(self, response):
        rows = response_answer_rows(response=response)
        if not rows:
            return "—"
        return format_html(
            '<table class="data-table"><tbody>{}</tbody></table>',
            # A text answer's line breaks are the respondent's paragraphs.
            format_html_join("", '<tr><th>{}</th><td style="white-space: pre-wrap">{}</td></tr>', rows),
        )

    @admin.display(description="Embedded data")
    def embedded_data_table(self, response):
        return data_table(response.embedded_data)
