"""django-q2 entry points: they take ids, are idempotent, and call one service each."""

from distributions.services.delivery import invitations_send_due
from distributions.services.response_export import response_export_run, response_exports_purge
from distributions.services.sms_retention import texts_purge
from distributions.services.sms_sessions import sms_sessions_expire


def send_due_invitations(ids: list[int] | None = None) -> int:
    """Send due pending email invitations (only `ids`, if given); the schedule runs it every minute."""
    return invitations_send_due(ids=ids)


def export_responses(export_id: int) -> str:
    """Produce the file of a response export (queued when the export is started)."""
    return response_export_run(export_id=export_id)


def purge_response_exports() -> int:
    """Delete response exports past their retention (the daily schedule)."""
    return response_exports_purge()


def expire_sms_sessions() -> int:
    """Expire two-way SMS survey sessions idle past their survey's expiry (every five minutes)."""
    return sms_sessions_expire()


def purge_texts() -> dict[str, int]:
    """Delete texts, ended SMS survey sessions and empty conversations past RETENTION_DAYS (daily)."""
    return texts_purge()
