"""Who may mint an API token for whom in the admin.

A token acts with its user's permissions and the admin shows its secret to whoever created it, so
creating a token for another user hands over that user's rights. A staff user allowed only to add
API tokens must not be able to make one for a superuser (or anyone with more rights than theirs).
"""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from api.models import ApiToken
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_a_staff_user_who_may_only_add_tokens_cannot_mint_one_for_a_superuser():
    superuser = make_user(username="root", is_superuser=True)
    integrator = make_user(username="integrator")
    integrator.user_permissions.add(Permission.objects.get(content_type__app_label="api", codename="add_apitoken"))
    client = Client()
    client.force_login(integrator)

    response = client.post("/admin/api/apitoken/add/", {"user": superuser.pk, "name": "escalate"}, follow=True)

    assert not ApiToken.objects.filter(user=superuser).exists()
    assert "The new token is" not in response.content.decode()


def test_a_staff_user_who_may_only_add_tokens_mints_one_for_themselves_and_is_offered_nobody_else():
    make_user(username="root", is_superuser=True)
    integrator = make_user(username="integrator")
    integrator.user_permissions.add(Permission.objects.get(content_type__app_label="api", codename="add_apitoken"))
    client = Client()
    client.force_login(integrator)

    form = client.get("/admin/api/apitoken/add/").content.decode()
    response = client.post("/admin/api/apitoken/add/", {"user": integrator.pk, "name": "mine"}, follow=True)

    assert "root" not in form
    assert ApiToken.objects.get().user == integrator
    assert "The new token is" in response.content.decode()


def test_a_superuser_may_mint_a_token_for_another_user():
    superuser = make_user(username="root", is_superuser=True)
    integrator = make_user(username="integrator")
    client = Client()
    client.force_login(superuser)

    response = client.post("/admin/api/apitoken/add/", {"user": integrator.pk, "name": "theirs"}, follow=True)

    assert ApiToken.objects.get().user == integrator
    assert "The new token is" in response.content.decode()


def test_a_staff_user_who_may_change_tokens_cannot_bring_back_a_superusers_revoked_token():
    superuser = make_user(username="root", is_superuser=True)
    token = ApiToken.objects.create(user=superuser, digest="d" * 64, hint="abcd", revoked_at=timezone.now())
    own = ApiToken.objects.create(user=make_user(username="integrator"), digest="e" * 64, revoked_at=timezone.now())
    own.user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="api", codename__in=["change_apitoken", "view_apitoken"])
    )
    client = Client()
    client.force_login(own.user)

    client.post(f"/admin/api/apitoken/{token.pk}/change/", {"name": "revived", "revoked_at_0": "", "revoked_at_1": ""})
    client.post(f"/admin/api/apitoken/{own.pk}/change/", {"name": "mine again", "revoked_at_0": "", "revoked_at_1": ""})

    token.refresh_from_db()
    own.refresh_from_db()
    assert (token.name, token.revoked_at is not None) == ("revived", True)
    assert (own.name, own.revoked_at) == ("mine again", None)
