"""django-q2 entry points: they take ids, are idempotent, and call one service each."""

from distributions.services.delivery import invitations_send_due


def send_due_invitations(ids: list[int] | None = None) -> int:
    """Send due pending email invitations (only `ids`, if given); the schedule runs it every minute."""
    return invitations_send_due(ids=ids)
