import hashlib
import re
from io import StringIO

import pytest
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.messages.storage.session import SessionStorage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from api.models import ApiToken
from api.services import api_token_create
from tests.api.conftest import ApiClient, error, result
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_it_answers_401_in_the_envelope_without_a_token():
    response = ApiClient(None).get("whoami")

    assert response.status_code == 401
    assert error(response)["errorCode"] == "AUTHENTICATION_REQUIRED"
    assert "X-API-TOKEN" in response["WWW-Authenticate"]


def test_it_refuses_a_wrong_token():
    api_token_create(user=make_user())

    response = ApiClient("not-a-token").get("whoami")

    assert response.status_code == 401
    assert error(response)["errorCode"] == "AUTHENTICATION_FAILED"


def test_it_refuses_a_revoked_token():
    token, secret = api_token_create(user=make_user())
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())

    assert ApiClient(secret).get("whoami").status_code == 401


def test_it_refuses_the_token_of_an_inactive_user():
    user = make_user()
    _token, secret = api_token_create(user=user)
    user.is_active = False
    user.save()

    assert ApiClient(secret).get("whoami").status_code == 401


def test_it_acts_as_the_tokens_user():
    user = make_user(username="warehouse-loader", first_name="Ada")
    _token, secret = api_token_create(user=user, name="nightly load")

    whoami = result(ApiClient(secret).get("whoami"))

    assert (whoami["userName"], whoami["firstName"], whoami["tokenName"]) == ("warehouse-loader", "Ada", "nightly load")


def test_it_stores_only_the_tokens_digest():
    token, secret = api_token_create(user=make_user())

    stored = ApiToken.objects.filter(pk=token.pk).values().get()

    assert secret not in {str(value) for value in stored.values()}
    assert stored["digest"] == hashlib.sha256(secret.encode()).hexdigest()


def test_it_records_when_a_token_was_last_used():
    token, secret = api_token_create(user=make_user())

    ApiClient(secret).get("whoami")

    token.refresh_from_db()
    assert token.last_used_at is not None


def test_the_command_prints_only_a_working_token():
    make_user(username="scripts", is_superuser=True)
    out = StringIO()

    call_command("create_api_token", "scripts", "--name", "warehouse", stdout=out)

    secret = out.getvalue().strip()
    assert "\n" not in secret
    assert result(ApiClient(secret).get("whoami"))["tokenName"] == "warehouse"


def test_the_command_names_a_missing_user():
    with pytest.raises(CommandError, match="No user 'nobody'"):
        call_command("create_api_token", "nobody", stdout=StringIO())


def test_the_admin_shows_a_new_token_once_and_stores_its_digest(admin_client):
    user = make_user(username="loader")

    response = admin_client.post("/admin/api/apitoken/add/", {"user": user.pk, "name": "from the admin"}, follow=True)

    secret = re.search(r"The new token is <code[^>]*>([^<]+)</code>", response.content.decode())[1]
    token = ApiToken.objects.get(name="from the admin")
    assert token.user == user
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert result(ApiClient(secret).get("whoami"))["userName"] == "loader"
    assert secret not in admin_client.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()


def test_the_new_tokens_secret_travels_in_no_cookie_and_is_never_cached(admin_client):
    """Shown on the answer to the save itself: a message for the next page would sit in Django's
    messages cookie (signed, not encrypted) or in the session table."""
    user = make_user(username="loader")

    response = admin_client.post("/admin/api/apitoken/add/", {"user": user.pk, "name": "from the admin"})

    assert response.status_code == 200
    page = response.content.decode()
    secret = re.search(r"The new token is <code[^>]*>([^<]+)</code>", page)[1]
    assert ApiToken.objects.get().digest == hashlib.sha256(secret.encode()).hexdigest()
    assert "no-store" in response["Cache-Control"]
    in_cookie = CookieStorage(response.wsgi_request)._decode(_messages_cookie(response)) or []
    in_session = SessionStorage(response.wsgi_request)._get()[0] or []
    stored = [str(message) for message in [*in_cookie, *in_session]]
    assert not [message for message in stored if secret in message]
    assert secret not in admin_client.get("/admin/api/apitoken/").content.decode()  # nor on the next page


def _messages_cookie(response) -> str | None:
    cookie = response.cookies.get("messages")
    return cookie.value if cookie is not None and cookie.value else None
