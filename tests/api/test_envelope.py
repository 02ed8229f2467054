import json
import re
import uuid

import pytest

from api.envelope import ApiErrorMiddleware
from config.views import server_error
from tests.api.conftest import error
from tests.factories import make_directory, make_workflow

pytestmark = pytest.mark.django_db


def test_it_wraps_a_result_with_its_status_and_a_request_id(superuser_api):
    body = superuser_api.get("whoami").json()

    assert set(body) == {"result", "meta"}
    assert body["meta"]["httpStatus"] == "200 - OK"
    uuid.UUID(body["meta"]["requestId"])


def test_it_answers_an_unknown_path_with_a_404_envelope(superuser_api):
    response = superuser_api.get("no-such-resource/at/all")

    assert response.status_code == 404
    assert error(response)["errorCode"] == "NOT_FOUND"


def test_it_answers_a_post_to_an_unknown_path_with_a_404_envelope(superuser_api):
    superuser_api.client = type(superuser_api.client)(enforce_csrf_checks=True)

    response = superuser_api.post("directories/POOL_x/no-such-list", {"name": "x"})

    assert response.status_code == 404
    assert error(response)["errorCode"] == "NOT_FOUND"


def test_it_answers_an_unknown_api_version_with_a_404_envelope(superuser_api):
    response = superuser_api.get("/API/v2/surveys")

    assert response.status_code == 404
    assert error(response)["errorCode"] == "NOT_FOUND"


def test_it_answers_json_to_a_client_asking_for_html(superuser_api):
    response = superuser_api.get("whoami", headers={"Accept": "text/html"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_it_answers_405_in_the_envelope_to_a_method_a_resource_lacks(superuser_api):
    response = superuser_api.call("PATCH", "surveys", {})

    assert response.status_code == 405
    assert error(response)["errorCode"] == "METHOD_NOT_ALLOWED"


def test_it_answers_400_to_a_body_that_is_not_json(superuser_api):
    response = superuser_api.client.post(
        "/API/v3/directories/POOL_x/mailinglists",
        data="{not json",
        content_type="application/json",
        headers={"X-API-TOKEN": superuser_api.token},
    )

    assert response.status_code == 400
    assert error(response)["errorCode"] == "MALFORMED_REQUEST"


def test_it_answers_415_to_a_body_that_is_a_form(superuser_api):
    response = superuser_api.client.post(
        "/API/v3/directories/POOL_x/mailinglists", data={"name": "x"}, headers={"X-API-TOKEN": superuser_api.token}
    )

    assert response.status_code == 415
    assert error(response)["errorCode"] == "UNSUPPORTED_MEDIA_TYPE"


def test_it_refuses_a_nul_character_naming_where_it_is(superuser_api):
    response = superuser_api.get("surveys", pageSize="1", skipToken="a%00b")

    assert response.status_code == 400
    assert "query.skipToken" in error(response)["fieldErrors"]


def test_a_nul_character_in_a_path_is_named_as_the_schema_names_the_parameter(superuser_api):
    directory = make_directory()

    response = superuser_api.get(f"directories/{directory.public_id}/contacts/CID_%00")

    assert response.status_code == 400
    assert list(error(response)["fieldErrors"]) == ["path.contactId"]


def test_it_names_the_fields_in_error(superuser_api):
    response = superuser_api.get("surveys", pageSize="many")

    details = error(response)
    assert response.status_code == 400
    assert list(details["fieldErrors"]) == ["pageSize"]
    assert "pageSize" in details["errorMessage"]


def test_an_exception_no_handler_knows_is_a_json_500_not_an_html_page(superuser_api, monkeypatch):
    def fail(serializer, user):
        raise RuntimeError("a fault nobody foresaw")

    monkeypatch.setattr("api.resources.whoami.WhoAmISerializer.get_accountType", fail)

    response = superuser_api.get("whoami")

    assert response.status_code == 500
    assert error(response)["errorCode"] == "INTERNAL_ERROR"
    assert "a fault nobody foresaw" not in response.content.decode()


def test_the_last_resort_leaves_other_pages_to_django(rf):
    assert ApiErrorMiddleware(lambda request: None).process_exception(rf.get("/admin/"), RuntimeError()) is None


def test_the_schema_and_its_docs_page_are_served_without_a_token_from_this_site_only(client):
    schema = client.get("/API/v3/schema/", headers={"Accept": "application/json"})
    docs = client.get("/API/v3/docs/")

    assets = re.findall(r'(?:src|href)="([^"]*)"', docs.content.decode())
    assert schema.status_code == 200
    assert schema.json()["paths"]["/API/v3/surveys"]["get"]["operationId"] == "listSurveys"
    assert docs.status_code == 200
    assert assets
    assert all(asset.startswith("/") and not asset.startswith("//") for asset in assets)


@pytest.mark.parametrize(
    ("method", "query", "status"),
    [("GET", "format=bogus", 404), ("POST", "", 405), ("DELETE", "", 405)],
)
def test_the_schema_url_answers_its_errors_in_the_json_envelope(client, method, query, status):
    response = client.generic(method, f"/API/v3/schema/?{query}")

    assert response.status_code == status
    assert error(response)["errorCode"]


def test_an_unknown_schema_format_is_a_404_naming_the_formats(client):
    response = client.get("/API/v3/schema/?format=bogus")

    assert response.status_code == 404
    assert "?format=json" in error(response)["errorMessage"]


def test_the_schema_ignores_an_unknown_version_parameter(client):
    response = client.get("/API/v3/schema/?version=9")

    assert response.status_code == 200
    assert b"(9)" not in response.content


def test_the_published_query_parameters_are_accepted(superuser_api):
    workflow = make_workflow()

    response = superuser_api.get(
        f"workflows/{workflow.pk}/runs", status="failed", search="x", pageSize="5", **{"from": "2024-01-01"}
    )

    assert response.status_code == 200


def test_more_query_parameters_than_django_reads_is_a_400_not_a_500(superuser_api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10

    response = superuser_api.client.get(
        "/API/v3/surveys?" + "&".join(f"p{n}=1" for n in range(11)), headers={"X-API-TOKEN": superuser_api.token}
    )

    assert response.status_code == 400
    assert error(response)["errorCode"] == "TOO_MANY_PARAMETERS"


def test_a_host_the_site_does_not_serve_is_a_400_in_the_envelope(superuser_api, settings):
    settings.ALLOWED_HOSTS = ["surveys.example.com"]

    response = superuser_api.client.get("/API/v3/whoami", headers={"X-API-TOKEN": superuser_api.token})

    assert response.status_code == 400
    assert error(response)["errorCode"] == "BAD_REQUEST"


def test_a_host_the_site_does_not_serve_is_still_django_s_page_outside_the_api(client, settings):
    settings.ALLOWED_HOSTS = ["surveys.example.com"]

    response = client.get("/admin/login/")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_a_user_agent_the_site_refuses_gets_a_403_in_the_envelope(superuser_api, settings):
    settings.DISALLOWED_USER_AGENTS = [re.compile("^BadBot")]

    response = superuser_api.client.get(
        "/API/v3/whoami", headers={"X-API-TOKEN": superuser_api.token, "User-Agent": "BadBot/1.0"}
    )

    assert response.status_code == 403
    assert error(response)["errorCode"] == "PERMISSION_DENIED"


def test_an_error_outside_the_views_is_a_json_500_under_the_api(rf):
    response = server_error(rf.get("/API/v3/whoami"))

    assert response.status_code == 500
    assert json.loads(response.content)["meta"]["error"]["errorCode"] == "INTERNAL_ERROR"


@pytest.mark.parametrize(
    ("content_type", "body"), [("text/plain", "x"), ("application/json", "{not json"), ("application/json", "x" * 64)]
)
def test_a_get_ignores_a_body_it_has_no_use_for(superuser_api, settings, content_type, body):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 32  # the schema documents no 413 for a GET either

    response = superuser_api.client.generic(
        "GET", "/API/v3/whoami", data=body, content_type=content_type, headers={"X-API-TOKEN": superuser_api.token}
    )

    assert response.status_code == 200
