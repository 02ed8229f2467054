import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from api.services import api_token_create
from tests.factories import make_user


class ApiClient:
    """Calls /API/v3/ as a script would: JSON bodies, the token in X-API-TOKEN."""

    def __init__(self, token: str | None):
        self.token = token
        self.client = Client()

    def call(self, method: str, path: str, body=None, *, headers: dict | None = None, **query):
        url = path if path.startswith(("/", "http")) else f"/API/v3/{path}"
        extra = {"headers": {**({"X-API-TOKEN": self.token} if self.token else {}), **(headers or {})}}
        if body is not None:
            extra.update(data=json.dumps(body), content_type="application/json")
        if query:
            extra["QUERY_STRING"] = "&".join(f"{name}={value}" for name, value in query.items())
        return getattr(self.client, method.lower())(url, **extra)

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.call("POST", path, {} if body is None else body, **kwargs)

    def put(self, path, body=None, **kwargs):
        return self.call("PUT", path, {} if body is None else body, **kwargs)

    def delete(self, path, **kwargs):
        return self.call("DELETE", path, **kwargs)


def grant(user, *codenames: str) -> None:
    for codename in codenames:
        app_label, name = codename.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=name))


def api_client_for(user, *permissions: str) -> ApiClient:
    grant(user, *permissions)
    _token, secret = api_token_create(user=user, name="tests")
    return ApiClient(secret)


@pytest.fixture
def superuser_api(db):
    """A client whose token belongs to a superuser (every permission)."""
    user = make_user(username="api-superuser", is_superuser=True)
    client = api_client_for(user)
    client.user = user
    return client


def result(response):
    """The result of a successful answer, checking the envelope on the way."""
    body = response.json()
    assert response.status_code < 400, body
    assert body["meta"]["httpStatus"].startswith(str(response.status_code))
    return body["result"]


def error(response) -> dict:
    """meta.error of a failed answer."""
    assert response["Content-Type"] == "application/json", response.content[:200]
    body = response.json()
    assert "result" not in body
    assert body["meta"]["httpStatus"].startswith(str(response.status_code))
    return body["meta"]["error"]
