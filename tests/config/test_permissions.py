"""Every page of the product, as a staff user without permissions and as one with the page's permissions.

The pages are enumerated from the URL resolver (config/urls.py), so a page is covered as soon as
it is routed: `url_values` must know how to fill its URL parameters, or the test says which one
to add. Staff without permissions may open only the admin's own pages (home, password change);
everything else answers 403, 404 or 405, or sends them to the login, and no page (nor a message
queued for the next one) shows any of the data.
"""

import logging
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern
from django.utils import timezone
from django.utils.html import escape
from django_q.models import OrmQ, Schedule
from django_q.models import Task as QueueTask

from api.models import ApiToken
from api.services import api_token_create
from directory.models import Membership, Transaction
from distributions.models import (
    Collaborator,
    FrequencyRule,
    OutboxMessage,
    SmsConversation,
    SmsMessage,
    SmsSession,
)
from tests.factories import (
    make_condition,
    make_contact,
    make_delivery_event,
    make_directory,
    make_directory_task,
    make_distribution,
    make_inbound_message,
    make_invitation,
    make_question,
    make_response_export,
    make_run,
    make_sender_domain,
    make_survey,
    make_survey_field,
    make_survey_response,
    make_task_run,
    make_user,
    make_workflow,
)
from workflows.models import Run
from workflows.models import TestEvent as SentTestEvent

pytestmark = pytest.mark.django_db

# Admin pages every staff user may open: they show nothing of the data.
OPEN_TO_EVERY_STAFF_USER = {"admin:index", "admin:password_change", "admin:password_change_done", "admin:jsi18n"}
# The REST API's schema and its docs page describe the API, and show nothing of the data.
API_DOCUMENTS = {"api:schema", "api:docs"}
REFUSED = {401, 403, 404, 405}
# Public pages are opened by a token in their URL, not by a login: a wrong token must get nothing.
WRONG_TOKEN = "not-a-token-of-anything"


@pytest.fixture
def world(settings):
    """One saved object of every model the admin shows, holding the strings in world["secrets"].

    Some pages warn about what they show (a field name differing only by case, a task of a kind
    no longer installed, the public address): the objects give each warning something to say.
    """
    settings.PUBLIC_BASE_URL = "https://public-xq7.example.com"
    now_ = timezone.now()
    owner = make_user(username="owner-xq7", is_superuser=True)
    directory = make_directory(name="Directory Pelican-xq7")
    contact = make_contact(
        directory=directory,
        first_name="Ada",
        last_name="Nightjar-xq7",
        email="ada.nightjar-xq7@example.com",
        embedded_data={"Tier": "Gold-xq7", "field-xq7": "clashes with the survey's Field-xq7"},
    )
    mailing_list = directory.mailing_lists.create(name="List Heron-xq7")
    Membership.objects.create(contact=contact, mailing_list=mailing_list)
    Transaction.objects.create(
        contact=contact, mailing_list=mailing_list, transaction_date=timezone.now(), data={"Store": "Store-xq7"}
    )
    workflow = make_workflow(owner=owner, name="Workflow Osprey-xq7")
    make_condition(workflow=workflow, field="IsClosed", operator="equals", value="true")
    make_directory_task(workflow=workflow, mailing_list="List Heron-xq7")
    workflow.tasks.create(position=2, kind="retired-kind-xq7", config={})
    run = make_run(workflow=workflow, status=Run.Status.FAILED)
    make_task_run(run=run, status="failed", error="Mailbox Kestrel-xq7 unavailable.")
    make_inbound_message(status="refused", http_status=404, reason="Unknown URL token Wren-xq7.")
    test_event = SentTestEvent.objects.create(
        workflow=workflow,
        created_by=owner,
        notification_id="04l000000000001AAA",
        test_recipient="tester-xq7@example.com",
    )
    survey = make_survey(owner=owner, name="Survey Plover-xq7")
    make_question(survey=survey, text="Question Avocet-xq7?")
    make_survey_field(survey=survey, name="Field-xq7")
    Collaborator.objects.create(survey=survey, user=owner)
    distribution = make_distribution(survey=survey, subject="Subject Curlew-xq7", run=run)
    invitation = make_invitation(distribution=distribution, contact=contact, message_id="<m-xq7@example.com>")
    make_survey_response(invitation=invitation, answers={"1": "Answer Dunlin-xq7"})
    export = make_response_export(survey=survey)
    make_delivery_event(invitation=invitation, kind="delivered", description="Delivered Snipe-xq7")
    make_sender_domain("sender-xq7.example")
    FrequencyRule.objects.create(directory=directory, max_messages=3, period_days=30)
    OutboxMessage.objects.create(from_email="s@sender-xq7.example", to=contact.email, subject="Outbox Stint-xq7")
    conversation = SmsConversation.objects.create(phone="+14155550177", last_message_at=now_)
    SmsMessage.objects.create(
        conversation=conversation, direction="inbound", body="Reply Puffin-xq7", provider="outbox", status="received"
    )
    SmsSession.objects.create(
        invitation=invitation,
        conversation=conversation,
        last_activity_at=now_,
        expires_at=now_,
        state="closed",
        state_detail="Closed Razorbill-xq7",
    )
    api_token_create(user=owner, name="Token Kite-xq7")
    Group.objects.create(name="Group Tern-xq7")
    Schedule.objects.create(func="workflows.jobs.dispatch_due_runs", name="Schedule Gannet-xq7")
    now = timezone.now()
    for success in (True, False):
        QueueTask.objects.create(
            id=f"{success:d}" * 32,
            name=f"Job Skua-xq7-{success}",
            func="workflows.jobs.execute_due_runs",
            started=now - timedelta(seconds=1),
            stopped=now,
            success=success,
        )
    OrmQ.objects.create(key="sfsurveys", payload="Payload Shag-xq7", lock=now)
    return {
        "owner": owner,
        "contact": contact,
        "run": run,
        "test_event": test_event,
        "survey": survey,
        "export": export,
        "distribution": distribution,
        "workflow": workflow,
        "directory": directory,
        "mailing_list": mailing_list,
        # Each names one object (or one of its fields); none is a word any page has of its own.
        "secrets": re.compile("|".join([r"[\w.@-]*-xq7", re.escape(invitation.token), re.escape(workflow.token)])),
    }


# --- enumerating the pages ------------------------------------------------------------------


def routes(resolver=None, prefix="", namespace=""):
    """(route, URL name with its namespace or None, pattern) of every URL the product serves."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + _route_text(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from routes(entry, route, inner)
        elif isinstance(entry, URLPattern):
            yield route, f"{namespace}{entry.name}" if entry.name else None, entry


def _route_text(pattern) -> str:
    text = str(pattern)
    if isinstance(pattern, RegexPattern):
        # Named groups stay as <name|choices>, the rest of the regex becomes literal text.
        text = re.sub(r"\(\?P<(\w+)>([^)]*)\)", r"<\1|\2>", text).removeprefix("^").removesuffix("$")
        text = re.sub(r"\(\?:|\)\??", "", text)  # optional groups: taken, as the longest URL
        text = re.sub(r"\\(.)", r"\1", text)
    return text


API_PUBLIC_IDS = {
    "surveyId": "survey",
    "directoryId": "directory",
    "contactId": "contact",
    "mailingListId": "mailing_list",
    "distributionId": "distribution",
}


def url_values(route: str, parameter: str, choices: str, world) -> list[str]:
    """Values to put in a URL parameter: the ids of existing objects, or each choice of a regex group."""
    if parameter == "object_id" and route.startswith("admin/r/"):
        return [str(world["contact"].pk)]  # "view on site" of a contact
    if parameter == "object_id":
        app_label, model_name = route.split("/")[1:3]
        model = apps.get_model(app_label, model_name)
        ids = [str(pk) for pk in model._default_manager.order_by("pk").values_list("pk", flat=True)]
        assert ids, f"world() makes no {model.__name__}: add one, so {route} is requested"
        return ids
    if parameter == "content_type_id":
        return [str(ContentType.objects.get_for_model(world["contact"]).pk)]
    if parameter == "id":  # a user's password change
        return [str(world["owner"].pk)]
    if parameter in ("export_id", "exportProgressId"):
        return [world["export"].public_id]
    if parameter == "fileId":
        return [world["export"].file_id]
    if parameter in ("distribution_id", "survey_id", "run_id", "test_event_id"):
        return [str(world[parameter.removesuffix("_id")].pk)]
    if parameter in API_PUBLIC_IDS:  # the REST API names rows by their public ids
        return [world[API_PUBLIC_IDS[parameter]].public_id]
    if parameter in ("workflowId", "runId"):
        return [str(world[parameter.removesuffix("Id")].pk)]
    if parameter == "unknown":  # the REST API's catch-all
        return ["v3/no-such-resource"]
    if parameter == "app_label":
        return choices.split("|")
    if parameter == "url":  # the admin's catch-all
        return ["no-such-page/"]
    if parameter == "token":
        return [WRONG_TOKEN]
    if parameter == "code":  # a text's short survey link
        return ["nosuchcode"]
    if parameter == "esp":
        return ["postmark"]
    pytest.fail(f"{route}: no test value for the URL parameter <{parameter}>: add one to url_values()")


def urls(world) -> list[tuple[str, str | None]]:
    """(URL, URL name) of every page, parameters filled."""
    found = []
    for route, name, _pattern in routes():
        filled = [""]
        for piece in re.split(r"(<[^>]+>)", route):
            match = re.fullmatch(r"<(?:\w+:)?(\w+)(?:\|([^>]*))?>", piece)
            values = url_values(route, match[1], match[2] or "", world) if match else [piece]
            filled = [start + value for start in filled for value in values]
        found.extend(("/" + url, name) for url in filled)
    return found


def staff_without_permissions(client):
    user = make_user(username="staff-without-permissions")
    client.force_login(user)
    return user


def refusal_problem(response, name) -> str | None:
    """Why a final response (redirects followed) is not a refusal, or None when it is one."""
    if response.status_code in REFUSED:
        return None
    if response.request["PATH_INFO"] == reverse("admin:login"):
        return None
    landed = response.resolver_match.view_name if response.resolver_match else None
    if response.status_code == 200 and (landed in OPEN_TO_EVERY_STAFF_USER or name in OPEN_TO_EVERY_STAFF_USER):
        return None
    if response.status_code == 200 and name in API_DOCUMENTS:
        return None
    return f"answered {response.status_code} at {response.request['PATH_INFO']}"


def leaked(response, world) -> set[str]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return set(world["secrets"].findall(body.decode(errors="replace")))


def every_row(*, but_user):
    """Every row of every model, serialized: equal before and after means nothing changed.

    Except sessions and `but_user` (logging in sets its last_login).
    """
    rows = {}
    for model in apps.get_models():
        if model._meta.app_label == "sessions" or model._meta.proxy:
            continue
        queryset = model._base_manager.order_by("pk")
        if model is type(but_user):
            queryset = queryset.exclude(pk=but_user.pk)
        rows[model._meta.label] = serializers.serialize("json", queryset)
    return rows


# --- staff without permissions --------------------------------------------------------------


def test_the_enumeration_reaches_the_custom_pages(world):
    names = {name for _url, name in urls(world)}
    expected = {
        "reporting:dashboard",
        "reporting:survey_summary",
        "reporting:survey_history_csv",
        "admin:distributions_survey_distributions",
        "admin:workflows_workflow_rotate_token",
        "admin:workflows_run_replay",
        "distributions:survey",
        "distributions:tracking_webhook",
    }
    assert expected <= names


def test_staff_without_permissions_get_no_page_and_no_data(client, world):
    staff_without_permissions(client)
    problems = []
    for url, name in urls(world):
        response = client.get(url, follow=True)
        if problem := refusal_problem(response, name):
            problems.append(f"GET {url}: {problem}")
        if secrets := leaked(response, world) | leaked(client.get("/admin/"), world):
            problems.append(f"GET {url}: shows {sorted(secrets)}")
    assert not problems, "\n".join(problems)


def test_staff_without_permissions_change_nothing(client, world):
    staff = staff_without_permissions(client)
    before = every_row(but_user=staff)
    problems = []
    for url, name in urls(world):
        if not url.startswith("/admin/"):
            continue  # public endpoints log refused calls by design; their own tests cover them
        client.force_login(staff)  # a POST to logout ends the session
        response = client.post(url, {"action": "replay", "_selected_action": [world["run"].pk], "post": "yes"})
        if response.status_code == 200 and name in OPEN_TO_EVERY_STAFF_USER | {"admin:login", "admin:logout"}:
            continue  # the form again, with its errors
        if response.status_code not in REFUSED | {302}:
            problems.append(f"POST {url}: answered {response.status_code}")
    assert not problems, "\n".join(problems)
    assert every_row(but_user=staff) == before


def test_anonymous_visitors_are_sent_to_the_login_from_every_admin_page(client, world):
    problems = []
    for url, _name in urls(world):
        if not url.startswith("/admin/") or url == "/admin/login/":
            continue
        response = client.get(url, follow=True)
        if response.request["PATH_INFO"] != reverse("admin:login") and response.status_code not in REFUSED:
            problems.append(f"GET {url}: answered {response.status_code} at {response.request['PATH_INFO']}")
        if secrets := leaked(response, world):
            problems.append(f"GET {url}: shows {sorted(secrets)}")
    assert not problems, "\n".join(problems)


# --- staff with a page's permissions --------------------------------------------------------


def staff_with(client, *codenames):
    user = make_user()
    for codename in codenames:
        app_label, name = codename.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=name))
    client.force_login(user)
    return user


def test_staff_with_a_models_view_permission_see_its_list_and_pages(client, world):
    problems = []
    for model in admin.site._registry:
        opts = model._meta
        staff_with(client, f"{opts.app_label}.view_{opts.model_name}")
        obj = model._default_manager.order_by("pk").first()
        for page, args in (("changelist", []), ("change", [obj.pk]), ("history", [obj.pk])):
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_{page}", args=args)
            if (status := client.get(url).status_code) != 200:
                problems.append(f"{url} with view_{opts.model_name}: {status}")
    assert not problems, "\n".join(problems)


def test_staff_with_a_models_view_permission_only_change_nothing_with_its_actions(client, world):
    superuser_request = RequestFactory().get("/admin/")
    superuser_request.user = world["owner"]  # offered every action a model admin has
    problems = []
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        staff = staff_with(client, f"{opts.app_label}.view_{opts.model_name}")
        before = every_row(but_user=staff)
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        every_object = [str(pk) for pk in model._default_manager.values_list("pk", flat=True)]
        for action in model_admin.get_actions(superuser_request):
            client.post(url, {"action": action, "index": "0", "_selected_action": every_object, "post": "yes"})
        if every_row(but_user=staff) != before:
            problems.append(f"{url}: an action changed rows with view_{opts.model_name} only")
    assert not problems, "\n".join(problems)


# Each custom page and the permissions it needs, all of them.
CUSTOM_PAGES = [
    ("reporting:survey_summary", "survey", ["distributions.view_survey", "distributions.view_invitation"]),
    ("reporting:survey_history_csv", "survey", ["distributions.view_invitation", "distributions.view_response"]),
    (
        "reporting:distribution_history_csv",
        "distribution",
        ["distributions.view_invitation", "distributions.view_response"],
    ),
    (
        "admin:distributions_survey_distributions",
        "survey",
        ["distributions.view_survey", "distributions.view_distribution", "distributions.view_invitation"],
    ),
    ("admin:workflows_workflow_rotate_token", "workflow", ["workflows.change_workflow"]),
    ("admin:workflows_task_add", None, ["workflows.add_task"]),
]


@pytest.mark.parametrize("name, obj, permissions", CUSTOM_PAGES)
def test_staff_with_a_pages_permissions_see_it(client, world, name, obj, permissions):
    staff_with(client, *permissions)
    url = reverse(name, args=[world[obj].pk] if obj else [])

    response = client.get(url)

    assert response.status_code == 200


@pytest.mark.parametrize(
    "name, obj, permissions, missing",
    [(name, obj, permissions, missing) for name, obj, permissions in CUSTOM_PAGES for missing in permissions],
)
def test_staff_lacking_one_of_a_pages_permissions_are_refused(client, world, name, obj, permissions, missing):
    staff_with(client, *(permission for permission in permissions if permission != missing))
    url = reverse(name, args=[world[obj].pk] if obj else [])

    response = client.get(url)

    assert response.status_code == 403
    assert not leaked(response, world)


def test_a_refusal_is_a_page_in_the_admins_look_and_one_log_line_without_a_traceback(client, world, caplog):
    staff_with(client, "distributions.view_survey")
    url = reverse("reporting:survey_summary", args=[world["survey"].pk])

    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(url)

    assert response.status_code == 403
    page = response.content.decode()
    assert "You do not have permission to see this page" in page
    assert "Salesforce surveys" in page  # the admin's own header, not Django's default
    assert f'href="{reverse("admin:index")}"' in page
    (record,) = [record for record in caplog.records if record.name == "django.request"]
    assert record.getMessage() == f"Forbidden (Permission denied): {url}"
    assert record.exc_info is None and "Traceback" not in caplog.text


def test_a_server_error_keeps_its_traceback_in_the_log(caplog):
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error", None, None)
    record.status_code, record.exc_info = 500, (ValueError, ValueError("boom"), None)
    logging.getLogger("django.request").handle(record)

    assert caplog.records[-1].exc_info is not None


def test_replaying_a_run_needs_the_rights_to_view_and_add_runs(client, world):
    url = reverse("admin:workflows_run_replay", args=[world["run"].pk])
    for partial in (["workflows.add_run"], ["workflows.view_run"]):
        staff_with(client, *partial)
        assert client.post(url).status_code == 403
    assert Run.objects.count() == 1

    staff_with(client, "workflows.add_run", "workflows.view_run")
    response = client.post(url)

    replay = Run.objects.get(replay_of=world["run"])
    assert response["Location"] == reverse("admin:workflows_run_change", args=[replay.pk])


def dashboard_as(client, *permissions):
    staff_with(client, *permissions)
    return client.get(reverse("reporting:dashboard"))


def test_the_dashboard_shows_run_counts_to_who_may_view_runs_only(client, world):
    page = dashboard_as(client, "workflows.view_run").content.decode()

    assert "Workflow runs per day" in page
    assert "Invitation funnel" not in page
    assert world["survey"].name not in page


def test_the_dashboard_shows_the_funnel_to_who_may_view_invitations_only(client, world):
    page = dashboard_as(client, "distributions.view_invitation").content.decode()

    assert "Invitation funnel" in page
    assert "Workflow runs per day" not in page
    assert world["survey"].name not in page


def test_the_dashboard_lists_surveys_to_who_may_read_their_summaries(client, world):
    page = dashboard_as(client, "distributions.view_survey", "distributions.view_invitation").content.decode()

    assert reverse("reporting:survey_summary", args=[world["survey"].pk]) in page
    assert "Workflow runs per day" not in page


# --- links: each shown only to who may open its page, the object it names kept as text --------


def page_hrefs(response) -> set[str]:
    return set(re.findall(r'href="([^"#?]+)', response.content.decode()))


def test_the_survey_page_and_list_do_not_link_pages_a_viewer_of_surveys_only_may_not_open(client, world):
    survey = world["survey"]
    staff_with(client, "distributions.view_survey")
    targets = {
        reverse(name, args=[survey.pk])
        for name in (
            "admin:distributions_survey_distributions",
            "reporting:survey_summary",
            "reporting:survey_history_csv",
        )
    }

    survey_page = client.get(reverse("admin:distributions_survey_change", args=[survey.pk]))
    survey_list = client.get(reverse("admin:distributions_survey_changelist"))

    assert survey_page.status_code == survey_list.status_code == 200
    assert not page_hrefs(survey_page) & targets
    assert not page_hrefs(survey_list) & targets
    assert all(client.get(target).status_code == 403 for target in targets)  # the pages the links would open


def test_the_survey_page_links_each_page_its_viewer_may_open(client, world):
    survey = world["survey"]
    staff_with(client, "distributions.view_survey", "distributions.view_invitation")  # the summary's rights

    survey_page = client.get(reverse("admin:distributions_survey_change", args=[survey.pk]))

    hrefs = page_hrefs(survey_page)
    assert reverse("reporting:survey_summary", args=[survey.pk]) in hrefs
    assert reverse("reporting:survey_history_csv", args=[survey.pk]) not in hrefs  # needs view_response too
    assert reverse("admin:distributions_survey_distributions", args=[survey.pk]) not in hrefs


def _run_with_a_contact(world):
    run = world["run"]
    make_task_run(run=run, position=3, output={"ContactId": str(world["contact"].pk)})
    return run


def _run_page_targets(run, world):
    """(URL of each page the run's Links section points to, the text naming it)."""
    notification = run.notification
    invitation = world["distribution"].invitations.get()
    return [
        (
            reverse("admin:workflows_inboundmessage_change", args=[notification.inbound_message_id]),
            f"call {notification.inbound_message_id}",
        ),
        (reverse("admin:workflows_notification_change", args=[notification.pk]), notification.notification_id),
        (reverse("admin:directory_contact_change", args=[world["contact"].pk]), str(world["contact"])),
        (
            reverse("admin:distributions_distribution_change", args=[world["distribution"].pk]),
            str(world["distribution"]),
        ),
        (
            reverse("admin:distributions_invitation_change", args=[invitation.pk]),
            f"{invitation.address} ({invitation.get_status_display()})",
        ),
    ]


def test_the_run_page_names_without_linking_the_objects_a_viewer_of_runs_may_not_open(client, world):
    run = _run_with_a_contact(world)
    staff_with(client, "workflows.view_run", "workflows.view_workflow")

    response = client.get(reverse("admin:workflows_run_change", args=[run.pk]))

    assert response.status_code == 200
    hrefs, page = page_hrefs(response), response.content.decode()
    for url, label in _run_page_targets(run, world):
        assert url not in hrefs
        assert escape(label) in page
        assert client.get(url).status_code == 403  # the page the link would open


def test_the_run_page_links_the_objects_a_viewer_of_them_may_open(client, world):
    run = _run_with_a_contact(world)
    staff_with(client, "workflows.view_run", "directory.view_contact", "distributions.view_invitation")

    hrefs = page_hrefs(client.get(reverse("admin:workflows_run_change", args=[run.pk])))

    _inbound, _notification, contact, _distribution, invitation = (url for url, _ in _run_page_targets(run, world))
    assert {url for url, _label in _run_page_targets(run, world) if url in hrefs} == {contact, invitation}


def test_a_superuser_sees_every_link_of_the_survey_and_run_pages(client, world):
    run, survey = _run_with_a_contact(world), world["survey"]
    client.force_login(world["owner"])

    run_hrefs = page_hrefs(client.get(reverse("admin:workflows_run_change", args=[run.pk])))
    survey_hrefs = page_hrefs(client.get(reverse("admin:distributions_survey_change", args=[survey.pk])))
    list_hrefs = page_hrefs(client.get(reverse("admin:distributions_survey_changelist")))

    assert {url for url, _label in _run_page_targets(run, world)} <= run_hrefs
    distributions_page = reverse("admin:distributions_survey_distributions", args=[survey.pk])
    assert {
        distributions_page,
        reverse("reporting:survey_summary", args=[survey.pk]),
        reverse("reporting:survey_history_csv", args=[survey.pk]),
    } <= survey_hrefs
    assert distributions_page in list_hrefs


def test_the_distributions_page_names_without_linking_the_run_and_csvs_its_viewer_may_not_open(client, world):
    survey, distribution = world["survey"], world["distribution"]
    staff_with(client, "distributions.view_survey", "distributions.view_distribution", "distributions.view_invitation")

    response = client.get(reverse("admin:distributions_survey_distributions", args=[survey.pk]))

    assert response.status_code == 200
    hrefs = page_hrefs(response)
    assert reverse("admin:distributions_distribution_change", args=[distribution.pk]) in hrefs
    assert not hrefs & {
        reverse("reporting:survey_history_csv", args=[survey.pk]),
        reverse("reporting:distribution_history_csv", args=[distribution.pk]),
        reverse("admin:workflows_run_change", args=[world["run"].pk]),
    }
    assert escape(str(distribution.run.workflow)) in response.content.decode()


def test_a_refusal_made_before_the_user_is_known_is_a_403_not_a_server_error(settings):
    """Django raises PermissionDenied in CommonMiddleware, before AuthenticationMiddleware has set
    request.user, for a user agent in DISALLOWED_USER_AGENTS: the 403 page must not need the user."""
    from django.test import Client

    settings.DISALLOWED_USER_AGENTS = [re.compile(r"BadBot")]
    client = Client(raise_request_exception=False)

    response = client.get(reverse("admin:login"), headers={"User-Agent": "BadBot/1.0"})

    assert response.status_code == 403


def _troubleshooting_pages(run):
    notification = run.notification
    return [
        reverse("admin:workflows_run_change", args=[run.pk]),
        reverse("admin:workflows_inboundmessage_change", args=[notification.inbound_message_id]),
        reverse("admin:workflows_notification_change", args=[notification.pk]),
    ]


def test_the_troubleshooting_pages_name_without_linking_the_workflow_and_call_their_viewer_may_not_open(client, world):
    run = world["run"]
    staff_with(client, "workflows.view_run", "workflows.view_notification")
    workflow_page = reverse("admin:workflows_workflow_change", args=[run.workflow_id])
    inbound_page = reverse("admin:workflows_inboundmessage_change", args=[run.notification.inbound_message_id])
    run_page, _inbound_page, notification_page = _troubleshooting_pages(run)

    for url in (run_page, notification_page):
        response = client.get(url)
        assert response.status_code == 200
        assert not page_hrefs(response) & {workflow_page, inbound_page}
    assert escape(str(run.workflow)) in client.get(run_page).content.decode()
    assert client.get(workflow_page).status_code == client.get(inbound_page).status_code == 403


def test_the_troubleshooting_pages_link_the_workflow_and_call_to_who_may_open_them(client, world):
    run = world["run"]
    staff_with(
        client,
        "workflows.view_run",
        "workflows.view_notification",
        "workflows.view_inboundmessage",
        "workflows.view_workflow",
    )
    workflow_page = reverse("admin:workflows_workflow_change", args=[run.workflow_id])
    run_page, inbound_page, notification_page = _troubleshooting_pages(run)

    assert workflow_page in page_hrefs(client.get(run_page))
    assert workflow_page in page_hrefs(client.get(inbound_page))
    assert inbound_page in page_hrefs(client.get(notification_page))


def test_read_only_survey_and_workflow_pages_name_their_users_without_linking_pages_their_viewer_may_not_open(
    client, world
):
    survey, workflow, owner = world["survey"], world["workflow"], world["owner"]
    staff_with(
        client,
        "distributions.view_survey",
        "distributions.view_collaborator",
        "workflows.view_workflow",
        "api.view_apitoken",
        "api.change_apitoken",  # a token's user is read-only even to who may change the token
    )
    user_page = reverse("admin:auth_user_change", args=[owner.pk])

    pages = [
        client.get(reverse("admin:distributions_survey_change", args=[survey.pk])),
        client.get(reverse("admin:workflows_workflow_change", args=[workflow.pk])),
        client.get(reverse("admin:api_apitoken_change", args=[ApiToken.objects.get(user=owner).pk])),
    ]

    for page in pages:
        assert page.status_code == 200
        assert user_page not in page_hrefs(page)
        assert escape(str(owner)) in page.content.decode()
    assert client.get(user_page).status_code == 403


def test_read_only_survey_and_workflow_pages_link_their_users_for_who_may_view_users(client, world):
    survey, workflow, owner = world["survey"], world["workflow"], world["owner"]
    staff_with(client, "distributions.view_survey", "workflows.view_workflow", "auth.view_user")
    user_page = reverse("admin:auth_user_change", args=[owner.pk])

    assert user_page in page_hrefs(client.get(reverse("admin:distributions_survey_change", args=[survey.pk])))
    assert user_page in page_hrefs(client.get(reverse("admin:workflows_workflow_change", args=[workflow.pk])))


LEAVING_THE_SITE = [
    "//evil.example/",
    "https://evil.example/",
    "/\\evil.example",
    "https:evil.example",
    "\\\\evil.example",
]


@pytest.mark.parametrize("next_url", LEAVING_THE_SITE)
def test_signing_in_never_follows_a_next_that_leaves_the_site(client, next_url):
    user = make_user(username="signs-in")
    user.set_password("A-long-enough-password-1")
    user.save()

    response = client.post(
        f"{reverse('admin:login')}?next={next_url}",
        {"username": "signs-in", "password": "A-long-enough-password-1", "next": next_url},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
