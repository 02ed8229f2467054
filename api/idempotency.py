"""Idempotency-Key on writes: a retried call (same key, same body) gets the first answer again and
changes nothing; the same key with another call is refused.

Keys are per token and kept IDEMPOTENCY_WINDOW (24 hours, as Salesforce-side scripts retry for a
day). The key is recorded in the call's own transaction, so an answer is kept exactly when the
call's changes committed, and a call that failed (changing nothing) may be sent again. Two calls
with one key at the same moment: the unique constraint makes the second wait for the first's
commit, then it gets the first's answer.
"""

import functools
import hashlib
import json

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from api.envelope import ApiError
from api.models import IdempotentRequest
from api.services import IDEMPOTENCY_WINDOW

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = IdempotentRequest._meta.get_field("key").max_length


def _request_digest(request) -> str:
    body = json.dumps(request.data, sort_keys=True, cls=JSONEncoder, ensure_ascii=False)
    text = "\n".join([request.method, request.path_info, request.META.get("QUERY_STRING", ""), body])
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(record: IdempotentRequest, digest: str) -> Response:
    if record.request_digest != digest:
        raise ApiError(
            f"This {HEADER} was used within the last 24 hours for another call (another path or body): "
            "send a new key for a new call.",
            code="IDEMPOTENCY_KEY_REUSED",
            status=422,
        )
    return Response(record.result, status=record.status_code, headers={"Idempotent-Replayed": "true"})


def idempotent(handler):
    """Decorates a view's write method (post, put, delete): honours the Idempotency-Key header."""

    @functools.wraps(handler)
    def handle(view, request, *args, **kwargs):
        key = request.headers.get(HEADER, "").strip()
        if not key:
            return handler(view, request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
            raise ApiError(f"{HEADER} must be at most {MAX_KEY_LENGTH} printable ASCII characters (a UUID is usual).")
        digest = _request_digest(request)
        token = request.auth
        with transaction.atomic():
            IdempotentRequest.objects.filter(
                token=token, key=key, created_at__lt=timezone.now() - IDEMPOTENCY_WINDOW
            ).delete()
            try:
                with transaction.atomic():
                    record = IdempotentRequest.objects.create(
                        token=token, key=key, request_digest=digest, status_code=0
                    )
            except IntegrityError:
                return _replay(IdempotentRequest.objects.get(token=token, key=key), digest)
            response = handler(view, request, *args, **kwargs)
            record.status_code = response.status_code
            record.result = json.loads(json.dumps(response.data, cls=JSONEncoder))
            record.save(update_fields=["status_code", "result"])
            return response

    handle.idempotent = True  # the schema lists the header for this operation
    return handle
