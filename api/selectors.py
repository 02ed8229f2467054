"""Reads of the API's own records."""

import hmac

from django.contrib.auth import get_user_model
from django.db.models import CharField, ExpressionWrapper, QuerySet
from django.db.models.fields.json import KeyTextTransform

from api.models import ApiToken, IdempotentRequest
from workflows.models import token_digest


def api_token_for_secret(secret: str) -> ApiToken | None:
    """The live (not revoked) token whose secret this is, with its user, or None.

    Matched on the secret's digest through the unique index, as workflow event URLs are: the
    lookup's timing depends on the digest, which says nothing about the secret.
    """
    digest = token_digest(secret)
    token = ApiToken.objects.select_related("user").filter(digest=digest, revoked_at__isnull=True).first()
    if token is None or not hmac.compare_digest(token.digest, digest):
        return None
    return token


def api_token_users(*, user):
    """The users `user` may create API tokens for: anyone for a superuser, else only themselves.

    A token acts with its user's permissions and its creator sees the secret, so a token for someone
    else would hand over that person's rights."""
    User = get_user_model()
    return User.objects.all() if user.is_superuser else User.objects.filter(pk=user.pk)


def idempotent_answers_naming(*, public_id: str) -> QuerySet[IdempotentRequest]:
    """The answers kept for Idempotency-Keys whose "id" is `public_id` (a contact's, e.g.), read
    through the idempotent_request_result_id index: a contact's deletion looks its answers up once
    per contact, so a directory's deletion must not scan a day of answers for each."""
    # The index's expression, compared as plain text.
    result_id = ExpressionWrapper(KeyTextTransform("id", "result"), output_field=CharField())
    return IdempotentRequest.objects.alias(result_id=result_id).filter(result_id=public_id)
