"""Public pages reached with hostile URLs: an unknown link is the 404 page, never a 500."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("code", ["%00", "abc%00defg", "%00" * 10])
def test_a_short_link_code_holding_a_nul_byte_is_the_404_page(code):
    response = Client(raise_request_exception=False).get(f"/r/{code}")

    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/s/%00/", "/s/%00/opt-out/"])
def test_a_survey_token_holding_a_nul_byte_is_the_404_page(path):
    assert Client(raise_request_exception=False).get(path).status_code == 404
