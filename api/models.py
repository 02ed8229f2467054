"""API tokens and the answers kept for Idempotency-Key retries."""

from django.conf import settings
from django.db import models
from django.db.models.fields.json import KeyTextTransform


class ApiToken(models.Model):
    """A secret a script sends as X-API-TOKEN to act as `user`, with the user's permissions.

    Only the token's SHA-256 is stored: it is shown once, when created, and cannot be shown again.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=200, blank=True, help_text="What uses it, e.g. “warehouse nightly load”.")
    # Calls are matched on the digest (unique index), so the lookup's timing says nothing about the token.
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=8, editable=False, help_text="The token's first characters, to recognise it.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="Set to refuse the token from then on.")

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at"]

    def __str__(self):
        label = self.name or f"{self.hint}…"
        return f"{label} ({self.user})"


class IdempotentRequest(models.Model):
    """A write sent with an Idempotency-Key: its answer, returned again to a retry with the same key
    and body for IDEMPOTENCY_WINDOW (api/idempotency.py)."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="idempotent_requests")
    key = models.CharField(max_length=255)
    # sha256 of the method, the path and the body's JSON: the same key with another request is refused.
    request_digest = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_once_per_token")]
        indexes = [
            # purging expired answers: where created_at < now - window
            models.Index(fields=["created_at"], name="idempotent_request_age"),
            # a contact's deletion: where result ->> 'id' = its public id (api.selectors.idempotent_answers_naming)
            models.Index(KeyTextTransform("id", "result"), name="idempotent_request_result_id"),
        ]

    def __str__(self):
        return f"Idempotency-Key {self.key} of {self.token}"
