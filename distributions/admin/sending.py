"""What sending needs and leaves behind: sender domains, frequency rules and the local outbox."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from distributions.admin.display import RequestBoundChangePageMixin, preformatted, sandboxed_html
from distributions.models import FrequencyRule, Invitation, OutboxMessage, SenderDomain
from distributions.selectors import may_see_survey_links, survey_links_masked
from workflows.admin.history import ReadOnlyMixin


@admin.register(SenderDomain)
class SenderDomainAdmin(admin.ModelAdmin):
    list_display = ["domain", "verified", "created_at"]
    list_filter = ["verified"]
    search_fields = ["domain"]
    fields = ["domain", "verified"]


@admin.register(FrequencyRule)
class FrequencyRuleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "directory"]
    list_filter = ["directory"]
    list_select_related = ["directory"]
    autocomplete_fields = ["directory"]
    fields = ["directory", "max_messages", "period_days"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(RequestBoundChangePageMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["subject", "to", "from_email", "created_at"]
    search_fields = ["to", "subject"]
    ordering = ["-id"]
    show_full_result_count = False
    fields = ["created_at", "from_email", "to", "subject", "message_id", "invitation", "html_preview", "text_pre"]
    readonly_fields = fields

    @admin.display(description="Invitation")
    def invitation(self, message):
        invitation = Invitation.objects.filter(message_id=message.message_id).first() if message.message_id else None
        if invitation is None:
            return "—"
        url = reverse("admin:distributions_invitation_change", args=[invitation.pk])
        return format_html('<a href="{}">{}</a> ({})', url, invitation, invitation.get_status_display())

    @admin.display(description="HTML body")
    def html_preview(self, message):
        return sandboxed_html(self._shown(message.html_body))

    @admin.display(description="Text body")
    def text_pre(self, message):
        return preformatted(self._shown(message.text_body))

    def _shown(self, body: str) -> str:
        # The survey link in it opens the recipient's survey: whole for who may view invitations.
        return body if may_see_survey_links(self.request.user) else survey_links_masked(body)
