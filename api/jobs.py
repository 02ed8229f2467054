"""django-q2 entry points of the API (scheduled by api's migrations)."""

from api.services import idempotent_requests_purge


def purge_idempotency_keys() -> int:
    return idempotent_requests_purge()
