import pytest
from django.core.cache import caches

from api.throttling import TokenRateThrottle
from tests.api.conftest import api_client_for, error
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_per_minute(monkeypatch):
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"api_token": "3/min"})
    caches["api_throttle"].clear()
    yield
    caches["api_throttle"].clear()


def test_past_the_limit_a_token_gets_429_with_retry_after(three_per_minute):
    api = api_client_for(make_user())

    statuses = [api.get("whoami").status_code for _ in range(4)]
    refused = api.get("whoami")

    assert statuses == [200, 200, 200, 429]
    assert error(refused)["errorCode"] == "RATE_LIMIT_EXCEEDED"
    assert 0 < int(refused["Retry-After"]) <= 60


def test_the_limit_is_per_token(three_per_minute):
    user = make_user()
    busy, other = api_client_for(user), api_client_for(user)
    for _ in range(3):
        busy.get("whoami")

    assert busy.get("whoami").status_code == 429
    assert other.get("whoami").status_code == 200
