"""SMS in the admin: each number's conversation as a thread (texts sent and received, in order),
every text with its status, and two-way SMS survey sessions. Read-only: texts are written by
sending and by webhooks, sessions by texts and the expiry job."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.template.response import TemplateResponse

from directory.admin import PhoneSearchMixin
from distributions.admin.display import RequestBoundChangePageMixin
from distributions.models import SmsConversation, SmsMessage, SmsSession
from distributions.selectors import may_see_survey_links, sms_contacts, sms_thread, survey_links_masked
from workflows.admin.history import ReadOnlyMixin

THREAD_LENGTH = 500


@admin.register(SmsConversation)
class SmsConversationAdmin(PhoneSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["phone", "last_message_at", "texts"]
    search_fields = ["phone"]
    ordering = ["-last_message_at", "-id"]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(text_count=Count("messages"))

    @admin.display(description="Texts", ordering="text_count")
    def texts(self, conversation):
        return conversation.text_count

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The conversation as a thread. Its texts are shown only with view permission on SMS
        messages too, as Django shows an inline's rows only to those who may view them."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        conversation = self.get_object(request, unquote(object_id))
        if conversation is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        may_view_texts = request.user.has_perm("distributions.view_smsmessage")
        texts, older = sms_thread(conversation=conversation, limit=THREAD_LENGTH) if may_view_texts else ([], False)
        if not may_see_survey_links(request.user):  # a text's link opens the recipient's survey
            for text in texts:
                text.body = survey_links_masked(text.body)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "conversation": conversation,
            "title": str(conversation),
            "may_view_texts": may_view_texts,
            "texts": texts,
            "older": older,
            "thread_length": THREAD_LENGTH,
            "contacts": sms_contacts(phone=conversation.phone)
            if request.user.has_perm("directory.view_contact")
            else None,
        }
        return TemplateResponse(request, "admin/distributions/smsconversation/thread.html", context)


@admin.register(SmsMessage)
class SmsMessageAdmin(PhoneSearchMixin, RequestBoundChangePageMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "conversation", "direction", "short_body", "status", "error_code", "provider"]
    list_filter = ["direction", "status", "keyword", "provider"]
    list_select_related = ["conversation"]
    search_fields = ["conversation__phone", "message_sid"]
    phone_field = "conversation__phone"
    ordering = ["-id"]
    show_full_result_count = False
    fields = [
        "created_at",
        "conversation",
        "direction",
        "our_number",
        "text",
        "segments",
        "keyword",
        "provider",
        "message_sid",
        "status",
        "error_code",
        "status_detail",
        "in_reply_to",
        "invitation",
        "updated_at",
    ]
    readonly_fields = fields

    # A text's survey link opens the recipient's survey: the list never shows it whole, the text's
    # page only to who may view invitations.
    @admin.display(description="Text")
    def short_body(self, message):
        return survey_links_masked(message.body)[:80]

    @admin.display(description="Body")
    def text(self, message):
        return message.body if may_see_survey_links(self.request.user) else survey_links_masked(message.body)


@admin.register(SmsSession)
class SmsSessionAdmin(PhoneSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Two-way SMS surveys in progress and how each ended (written by texts and the expiry job)."""

    list_display = ["created_at", "conversation", "invitation", "state", "question", "last_activity_at", "expires_at"]
    list_filter = ["state"]
    list_select_related = ["conversation", "invitation", "question"]
    search_fields = ["conversation__phone"]
    phone_field = "conversation__phone"
    ordering = ["-id"]
    show_full_result_count = False
    fields = [
        "created_at",
        "conversation",
        "invitation",
        "state",
        "state_detail",
        "question",
        "reasks",
        "last_activity_at",
        "expires_at",
        "ended_at",
    ]
    readonly_fields = fields
