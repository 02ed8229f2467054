import hashlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# The directory as it was then too: its later migrations add columns the old models do not fill.
BEFORE_DIGESTS = [("distributions", "0005_invitation_claim"), ("directory", "0002_contact_phone_extension_help")]
DIGESTS = [("distributions", "0006_invitation_token_digest")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_it_stores_the_token_digest_of_every_invitation_made_before_digests():
    old = migrate(BEFORE_DIGESTS)
    try:
        owner = old.get_model("auth", "User").objects.create(username="owner")
        survey = old.get_model("distributions", "Survey").objects.create(name="Before", owner_id=owner.pk)
        distribution = old.get_model("distributions", "Distribution").objects.create(survey_id=survey.pk)
        directory = old.get_model("directory", "Directory").objects.create(name="Before")
        Contact, Invitation = old.get_model("directory", "Contact"), old.get_model("distributions", "Invitation")
        tokens = [f"token-made-before-digests-{n}" for n in range(3)]
        for token in tokens:
            contact = Contact.objects.create(directory_id=directory.pk, email=f"{token}@example.com")
            Invitation.objects.create(distribution_id=distribution.pk, contact_id=contact.pk, token=token)

        new = migrate(DIGESTS)

        stored = dict(new.get_model("distributions", "Invitation").objects.values_list("token", "token_digest"))
        assert stored == {token: hashlib.sha256(token.encode()).hexdigest() for token in tokens}
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


BEFORE_SHORT_CODE_DIGESTS = [("distributions", "0018_invitation_address_any_case_index")]
SHORT_CODE_DIGESTS = [("distributions", "0019_invitation_short_code_digest")]


@pytest.mark.django_db(transaction=True)
def test_it_stores_the_short_code_digest_of_every_text_made_before_such_digests():
    old = migrate(BEFORE_SHORT_CODE_DIGESTS)
    try:
        owner = old.get_model("auth", "User").objects.create(username="owner")
        survey = old.get_model("distributions", "Survey").objects.create(name="Before", owner_id=owner.pk)
        distribution = old.get_model("distributions", "Distribution").objects.create(survey_id=survey.pk)
        Invitation = old.get_model("distributions", "Invitation")
        codes = ["Ab3dEf6hIj", "Kl9nOp2rSt", ""]  # two texts and an email
        for n, code in enumerate(codes):
            Invitation.objects.create(distribution_id=distribution.pk, token=f"token-{n}", short_code=code)

        new = migrate(SHORT_CODE_DIGESTS)

        invitations = new.get_model("distributions", "Invitation").objects
        stored = dict(invitations.values_list("short_code", "short_code_digest"))
        assert stored == {
            "Ab3dEf6hIj": hashlib.sha256(b"Ab3dEf6hIj").hexdigest(),
            "Kl9nOp2rSt": hashlib.sha256(b"Kl9nOp2rSt").hexdigest(),
            "": "",
        }
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
