"""Writes of the API's own records: tokens, and when a token was last used."""

import secrets
from datetime import timedelta

from django.utils import timezone

from api.models import ApiToken, IdempotentRequest
from api.selectors import idempotent_answers_naming
from workflows.models import token_digest

# How long an Idempotency-Key's answer is kept (api/idempotency.py): Salesforce-side scripts retry for a day.
IDEMPOTENCY_WINDOW = timedelta(hours=24)
# The keys of an answer that names a contact without showing anything of the person.
NAMING_ONLY = {"id", "action"}
# last_used_at is written at most this often per token: not one write per call.
LAST_USED_PRECISION = timedelta(minutes=1)


def new_api_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def api_token_create(*, user, name: str = "") -> tuple[ApiToken, str]:
    """A new token for `user`. -> (the stored token, the secret to show once: only its digest is kept)"""
    secret = new_api_token()
    token = ApiToken.objects.create(user=user, name=name.strip(), digest=token_digest(secret), hint=secret[:6])
    return token, secret


def api_token_mark_used(*, token: ApiToken) -> None:
    """Record that the token was used now (at most once per LAST_USED_PRECISION)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def idempotent_requests_purge() -> int:
    """Delete the answers kept for Idempotency-Keys older than IDEMPOTENCY_WINDOW. -> how many"""
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=timezone.now() - IDEMPOTENCY_WINDOW).delete()
    return deleted


def contact_answers_erase(*, public_id: str) -> int:
    """Delete the answers kept for Idempotency-Keys that show contact `public_id` (a PUT's answer
    is the whole contact: names, address, embedded data), so its deletion erases them too: a retry
    with such a key is then executed as a new call, and finds no contact. An answer that names it
    by its id alone (a create's {"id", "action"}) stays, so a retried create still changes nothing.
    -> how many were deleted."""
    showing = [
        record.pk
        for record in idempotent_answers_naming(public_id=public_id).only("pk", "result")
        if set(record.result) - NAMING_ONLY
    ]
    deleted, _ = IdempotentRequest.objects.filter(pk__in=showing).delete()
    return deleted


def contact_deleting(sender, instance, **kwargs) -> None:
    """pre_delete receiver of directory.Contact (connected in ApiConfig.ready())."""
    contact_answers_erase(public_id=instance.public_id)
