"""Erasing a deleted contact from what distributions copied of it.

An invitation copies its contact's address into `address`, the rendered message (name, piped
fields, the address) into its subject and bodies, a distribution's subject is that rendered
subject, providers' events carry the recipient in their payload, a response copies the contact's
embedded data, the SMS conversations with its phone and the numbers its texts went to hold its
texts, and a response export's file
holds its name and address. Deleting the contact, whichever way (the API, the admin, a deleted
directory), erases all of it in the same transaction (export files once it commits): the
invitation stays, without a contact, so the distribution's figures and the response's answers
remain, naming nobody.
"""

from django.db.models import Q
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
    SmsMessage,
    SmsSession,
)
from distributions.services.delivery import invitation_record_skip
from distributions.services.invitation_channels import SMS_CHANNELS, channel_terms
from distributions.services.sms_retention import texts_deciding_opt_out

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
    # updated_at stays: it is when the respondent last saved answers, an unfinished response's
    # EndDate and RecordedDate in exports (and what their date range selects on).
    responses.update(embedded_data={})
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
    """Delete the SMS conversations with the contact's `phone` and with every number its SMS
    invitations went to (every text sent to and received from them, and their sessions), unless
    another contact now has that number: the texts are the person's, keyed by their number. The
    texts of the contact's invitations in a conversation that stays lose their bodies. A number
    whose last carrier keyword was STOP keeps that one text, wordless, so it stays opted out. Call it
    before contact_copies_erase, which forgets the numbers the invitations went to.
    -> the number of conversations deleted."""
    invitations = Invitation.objects.filter(contact_id=contact_id)
    texted = invitations.filter(distribution__channel__in=SMS_CHANNELS).exclude(address="")
    phones = {phone, *texted.values_list("address", flat=True)} - {""}
    kept = set(Contact.objects.filter(phone__in=phones).exclude(pk=contact_id).values_list("phone", flat=True))
    # A number now someone else's: their thread stays, without this contact's texts' words.
    # A reply sent in the webhook's answer is linked to the text it answers, not to the invitation.
    words = Q(invitation__in=invitations) | Q(in_reply_to__invitation__in=invitations)
    SmsMessage.objects.filter(words).update(body="", status_detail="", updated_at=timezone.now())
    erased = phones - kept
    # A number's deciding STOP stays, without its words: the number must stay opted out (a contact
    # given it later must not be texted, as carriers require), and the row keeps no more of the
    # person than the number. Everything else in its conversation goes.
    stops = dict(
        SmsMessage.objects.filter(texts_deciding_opt_out(), conversation__phone__in=erased).values_list(
            "pk", "conversation_id"
        )
    )
    SmsMessage.objects.filter(conversation_id__in=stops.values()).exclude(pk__in=stops).delete()
    SmsSession.objects.filter(conversation_id__in=stops.values()).delete()
    SmsMessage.objects.filter(pk__in=stops).update(
        body="", status_detail="", invitation=None, in_reply_to=None, updated_at=timezone.now()
    )
    deleted = SmsConversation.objects.filter(phone__in=erased).exclude(pk__in=stops.values()).delete()[1]
    return deleted.get(SmsConversation._meta.label, 0)


def contact_deleting(sender, instance, **kwargs) -> None:
    """pre_delete receiver of directory.Contact (connected in DistributionsConfig.ready())."""
    contact_texts_erase(contact_id=instance.pk, phone=instance.phone)
    contact_copies_erase(contact_id=instance.pk)
