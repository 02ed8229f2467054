"""Invitation statuses move forward only, and every change is also a DeliveryEvent.

Events arrive late and out of order (a "delivered" webhook after the survey was finished), so a
status is replaced only by one that ranks higher. The event is appended either way: the history
keeps everything, the status shows the furthest point reached.
"""

from django.db import transaction
from django.utils import timezone

from distributions.models import DeliveryEvent, Invitation

Status = Invitation.Status

# Higher wins. Outcomes of sending come first, then what the recipient did.
RANK = {
    Status.PENDING: 0,
    Status.EMAIL_SKIPPED: 10,
    Status.EMAIL_FAILED: 10,
    Status.SMS_FAILED: 10,
    Status.EMAIL_SENT: 20,
    Status.SMS_SENT: 20,
    Status.EMAIL_SOFT_BOUNCE: 25,
    Status.SMS_DELIVERED: 30,
    Status.EMAIL_HARD_BOUNCE: 30,
    Status.EMAIL_BLOCKED: 30,
    Status.EMAIL_OPENED: 40,
    Status.EMAIL_COMPLAINT: 45,
    Status.LINK_EXPIRED: 50,
    # Opting out from the link comes after the email was sent and opened, and must show; a
    # response already started keeps its survey status (the opt-out is still in the events).
    Status.OPTED_OUT: 55,
    Status.SURVEY_STARTED: 60,
    Status.SURVEY_PARTIALLY_FINISHED: 70,
    Status.SURVEY_FINISHED: 80,
}


@transaction.atomic
def invitation_record(
    *,
    invitation: Invitation,
    kind: str,
    status: str | None = None,
    detail: str = "",
    occurred_at=None,
    provider: str = "",
    provider_event_id: str = "",
    data: dict | None = None,
) -> bool:
    """Append an event and move the status forward if `status` ranks higher. -> status changed"""
    DeliveryEvent.objects.create(
        invitation=invitation,
        kind=kind,
        occurred_at=occurred_at or timezone.now(),
        provider=provider,
        provider_event_id=provider_event_id,
        description=detail,
        data=data or {},
    )
    if status is None:
        return False
    locked = Invitation.objects.select_for_update().only("status").get(pk=invitation.pk)
    if RANK[Status(status)] <= RANK[Status(locked.status)]:
        return False
    Invitation.objects.filter(pk=invitation.pk).update(status=status, status_detail=detail, updated_at=timezone.now())
    invitation.status, invitation.status_detail = status, detail
    return True
