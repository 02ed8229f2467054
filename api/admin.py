"""API tokens in the admin: created here (the token is shown once, on the page the save answers), revoked here."""

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from api.models import ApiToken
from api.selectors import api_token_users
from api.services import api_token_create
from workflows.admin.display import UserNamedAsTextMixin


@admin.register(ApiToken)
class ApiTokenAdmin(UserNamedAsTextMixin, admin.ModelAdmin):
    list_display = ["__str__", "user", "hint", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["user"]
    search_fields = ["name", "user__username"]
    autocomplete_fields = ["user"]
    fields = ["user", "name", "hint", "created_at", "last_used_at", "revoked_at"]
    user_fields = ("user",)
    readonly_fields = ["hint", "created_at", "last_used_at"]
    actions = ["revoke"]

    def get_autocomplete_fields(self, request):
        # Only a superuser picks among users; anyone else makes tokens for themselves alone.
        return self.autocomplete_fields if request.user.is_superuser else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            # The choices are also what the form accepts: another user's id is refused, not just hidden.
            kwargs["queryset"] = api_token_users(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        return {"user": request.user.pk, **super().get_changeform_initial_data(request)}

    def get_readonly_fields(self, request, obj=None):
        readonly_fields = super().get_readonly_fields(request, obj)
        if obj is None:
            return readonly_fields
        # A token's user cannot change: it would hand the secret to someone else's rights. Nor may
        # someone else's revoked token be brought back (by whoever might hold its secret) but by
        # those who could create one for its user.
        revived = obj.revoked_at and not api_token_users(user=request.user).filter(pk=obj.user_id).exists()
        return [*readonly_fields, "user", *(["revoked_at"] if revived else [])]

    @admin.display(description="User")
    def user_name(self, token):
        return str(token.user)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token, secret = api_token_create(user=obj.user, name=obj.name)
        obj.pk, obj.digest, obj.hint, obj.created_at = token.pk, token.digest, token.hint, token.created_at
        obj._state.adding = False
        request.new_api_token_secret = secret  # for response_add, and nothing else

    def response_add(self, request, obj, post_url_continue=None):
        """The new token's secret, on the answer to the save itself: a redirect would carry it to the
        next page in a message, which Django keeps in a cookie (signed, not encrypted) or the session."""
        secret = getattr(request, "new_api_token_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API token created",
            "token": obj,
            "secret": secret,
        }
        response = TemplateResponse(request, "admin/api/apitoken/created.html", context)
        add_never_cache_headers(response)  # never kept by the browser or a proxy
        return response

    @admin.action(
        description="Revoke selected tokens (calls with them are refused from now on)", permissions=["change"]
    )
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} token{'s' * (count != 1)} revoked.")
