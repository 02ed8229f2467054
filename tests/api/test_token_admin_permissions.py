"""Who may mint an API token for whom in the admin.

A token acts with its user's permissions and the admin shows its secret to whoever created it, so
creating a token for another user hands over that user's rights. A staff user allowed only to add
API tokens must not be able to make one for a superuser (or anyone with more rights than theirs).
"""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

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
