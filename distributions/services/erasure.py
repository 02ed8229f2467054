"""Erasing a deleted contact from what distributions copied of it.

An invitation copies its contact's address into `address`, the rendered message (name, piped
fields, the address) into its subject and bodies, a distribution's subject is that rendered
subject, providers' events carry the recipient in their payload, a response copies the contact's
embedded data, the SMS conversation with its phone holds its texts, and a response export's file
holds its name and address. Deleting the contact, whichever way (the API, the admin, a deleted
directory), erases all of it in the same transaction (export files once it commits): the
invitation stays, without a contact, so the distribution's figures and the response's answers
remain, naming nobody.
"""

from django.utils import timezone

from directory.models import Contact
from distributions.models import (
    DeliveryEvent,
    Distribution,
    Invitation,
    OutboxMessage,
    Response,
    ResponseExport,
    SmsConversation,
)
from distributions.services.delivery import invitation_record_skip
from distributions.services.invitation_channels import channel_terms

Status = Invitation.Status
NOT_SENT_DETAIL = "Not sent: the contact was deleted."


def contact_copies_erase(*, contact_id: int) -> int:
    """Erase every copy distributions holds of contact `contact_id`'s personal fields, and detach
    its invitations from it. A pending invitation becomes Email (SMS) Skipped: nobody is left to send it
    to. -> the number of invitations erased. Call it inside the transaction that deletes the contact.
    """
    invitations = Invitation.objects.filter(contact_id=contact_id)
    for invitation in invitations.filter(status=Status.PENDING, sent_at__isnull=True).select_related("distribution"):
        skipped = channel_terms(invitation.distribution.channel).skipped  # Email Skipped, SMS Skipped
        invitation_record_skip(invitation=invitation, status=skipped, detail=NOT_SENT_DETAIL)
    invitation_ids = list(invitations.values_list("pk", flat=True))
    if not invitation_ids:
        return 0
    message_ids = [
        message_id
        for message_id in Invitation.objects.filter(pk__in=invitation_ids).values_list("message_id", flat=True)
        if message_id
    ]
    # The local outbox kept the emails as sent: the address and the rendered message.
    OutboxMessage.objects.filter(message_id__in=message_ids).delete()
    # Provider payloads and descriptions may name the recipient; the skip just recorded names nobody.
    DeliveryEvent.objects.filter(invitation_id__in=invitation_ids).exclude(description=NOT_SENT_DETAIL).update(
        data={}, description=""
    )
    responses = Response.objects.filter(invitation_id__in=invitation_ids)
    # Response exports written before name the contact in their files: they go (files included).
    ResponseExport.objects.filter(survey_id__in=responses.values("survey_id")).delete()
    responses.update(embedded_data={}, updated_at=timezone.now())
    # A distribution is one task run's send to one contact: its subject is that contact's.
    Distribution.objects.filter(invitations__pk__in=invitation_ids).update(subject="")
    erased = Invitation.objects.filter(pk__in=invitation_ids)
    erased.exclude(status_detail=NOT_SENT_DETAIL).update(status_detail="")
    return erased.update(
        contact=None,
        address="",
        subject="",
        text_body="",
        html_body="",
        content_digest="",
        updated_at=timezone.now(),
    )


def contact_texts_erase(*, contact_id: int, phone: str) -> int:
    """Delete the SMS conversation with `phone` (every text sent to and received from it) unless
    another contact still has that phone: the texts are the person's, keyed by their number.
    -> the number of conversations deleted (0 or 1)."""
    if not phone or Contact.objects.filter(phone=phone).exclude(pk=contact_id).exists():
        return 0
    return SmsConversation.objects.filter(phone=phone).delete()[1].get(SmsConversation._meta.label, 0)


def contact_deleting(sender, instance, **kwargs) -> None:
    """pre_delete receiver of directory.Contact (connected in DistributionsConfig.ready())."""
    contact_copies_erase(contact_id=instance.pk)
    contact_texts_erase(contact_id=instance.pk, phone=instance.phone)
