import hashlib

import pytest

from distributions.models import Invitation
from tests.factories import make_contact, make_distribution, make_invitation

pytestmark = pytest.mark.django_db


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def test_an_invitation_keeps_the_digest_of_its_token():
    invitation = make_invitation()

    invitation.refresh_from_db()
    assert invitation.token_digest == digest(invitation.token)


def test_invitations_created_in_bulk_keep_the_digests_of_their_tokens():
    distribution = make_distribution()
    contacts = [make_contact(email=f"p{n}@example.com") for n in range(3)]

    Invitation.objects.bulk_create([Invitation(distribution=distribution, contact=contact) for contact in contacts])

    stored = Invitation.objects.values_list("token", "token_digest")
    assert len(stored) == 3
    assert all(token_digest == digest(token) for token, token_digest in stored)
