"""Keyset pages of the big changelists (workflows/admin/pagination.py): Workflow Reporting's runs,
the inbound log and Failed to start, and invitations. First, Previous, Next and Last, with filters,
search and sorting applied; stable while rows are added; a bad page link shows the first page."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from distributions.models import Invitation
from reporting.models import FailedToStart
from tests.factories import (
    make_contact,
    make_distribution,
    make_inbound_message,
    make_invitation,
    make_run,
    make_task_run,
    make_workflow,
)
from tests.pages import texts
from workflows.models import InboundMessage, Notification, Run

pytestmark = pytest.mark.django_db

RUNS_URL = reverse("admin:workflows_run_changelist")
LOG_URL = reverse("admin:workflows_inboundmessage_changelist")
FAILED_TO_START_URL = reverse("admin:reporting_failedtostart_changelist")
INVITATIONS_URL = reverse("admin:distributions_invitation_changelist")
PER_PAGE = 3


@pytest.fixture(autouse=True)
def small_pages(monkeypatch):
    for model in (Run, InboundMessage, FailedToStart, Invitation):
        monkeypatch.setattr(admin.site.get_model_admin(model), "list_per_page", PER_PAGE)


def link(content, css_class) -> str | None:
    found = texts(content, f'//p[@class="paginator"]//a[contains(@class, "{css_class}")]/@href')
    return found[0] if found else None


def page_ids(response) -> list[int]:
    assert response.status_code == 200
    return [row.pk for row in response.context["cl"].result_list]


def walk(client, url, query=None, *, start=None, follow="next"):
    """The ids of each page, from the first (or `start`, a query string) following `follow` links."""
    response = client.get(url + start) if start else client.get(url, query or {})
    pages = [page_ids(response)]
    while href := link(response.content, follow):
        response = client.get(url + href)
        pages.append(page_ids(response))
        assert len(pages) < 100, "the links go round in circles"
    return pages


def flatten(pages):
    return [pk for page in pages for pk in page]


def assert_walked_back(back, order):
    """Previous from the last page (the last PER_PAGE rows) back to a full first page, which may
    overlap the page after it: together, every row once in the list's order."""
    pages = back[::-1]
    assert pages[0] == order[:PER_PAGE]
    assert pages[-1] == order[-PER_PAGE:]
    assert flatten(pages[1:]) == order[len(order) - len(flatten(pages[1:])) :]
    assert set(flatten(pages)) == set(order)


def runs_at(workflow, times, **fields):
    """A run created at each of `times` (equal times test the tie-break on id)."""
    runs = []
    for created_at in times:
        run = make_run(workflow=workflow, **fields)
        Run.objects.filter(pk=run.pk).update(created_at=created_at)
        runs.append(Run.objects.get(pk=run.pk))
    return runs


def newest_first(rows, key):
    return [row.pk for row in sorted(rows, key=lambda row: (key(row), row.pk), reverse=True)]


# --- the run list ---------------------------------------------------------------------------


def test_next_and_previous_walk_every_run_once_in_order_with_ties_on_the_timestamp(admin_client):
    now = timezone.now()
    times = [now - timedelta(minutes=m) for m in (1, 2, 2, 2, 3, 5, 5, 8, 9, 9, 9, 12)]
    runs = runs_at(make_workflow(), times)

    forward = walk(admin_client, RUNS_URL)

    assert flatten(forward) == newest_first(runs, lambda run: run.created_at)
    assert [len(page) for page in forward] == [3, 3, 3, 3]
    last_page = link(admin_client.get(RUNS_URL).content, "last")
    assert page_ids(admin_client.get(RUNS_URL + last_page)) == forward[-1]
    backward = walk(admin_client, RUNS_URL, start=last_page, follow="previous")
    assert backward[::-1] == forward  # 12 runs: the pages back are the pages forward


def test_the_first_page_offers_next_and_last_only_and_the_last_page_first_and_previous_only(admin_client):
    runs_at(make_workflow(), [timezone.now() - timedelta(minutes=m) for m in range(7)])

    first = admin_client.get(RUNS_URL).content
    last = admin_client.get(RUNS_URL + link(first, "last")).content

    assert (link(first, "first"), link(first, "previous")) == (None, None)
    assert link(first, "next") and link(first, "last")
    assert link(last, "first") and link(last, "previous")
    assert (link(last, "next"), link(last, "last")) == (None, None)
    # No numbered pages: only OFFSET could reach them.
    assert texts(first, '//p[@class="paginator"]//a[normalize-space()="2"]') == []


def test_pages_keep_the_status_filter_and_date_range(admin_client):
    workflow = make_workflow()
    now = timezone.now()
    wanted = runs_at(workflow, [now - timedelta(days=2, minutes=m) for m in range(8)], status=Run.Status.FAILED)
    runs_at(workflow, [now - timedelta(days=2, minutes=m) for m in range(5)], status=Run.Status.SUCCEEDED)
    runs_at(workflow, [now - timedelta(days=20, minutes=m) for m in range(4)], status=Run.Status.FAILED)
    query = {"status__exact": "failed", "created_at_from": (timezone.localdate() - timedelta(days=6)).isoformat()}

    pages = walk(admin_client, RUNS_URL, query)

    order = newest_first(wanted, lambda run: run.created_at)
    assert flatten(pages) == order
    last_page = link(admin_client.get(RUNS_URL, query).content, "last")
    assert_walked_back(walk(admin_client, RUNS_URL, start=last_page, follow="previous"), order)


def test_pages_keep_the_search(admin_client):
    workflow = make_workflow()
    ada = make_contact(email="ada@example.com")
    now = timezone.now()
    wanted = runs_at(workflow, [now - timedelta(minutes=m) for m in range(7)])
    for run in wanted:
        make_task_run(run=run, output={"ContactId": str(ada.pk)})
    runs_at(workflow, [now - timedelta(minutes=m) for m in range(4)])

    pages = walk(admin_client, RUNS_URL, {"q": "ada@example.com"})

    assert flatten(pages) == newest_first(wanted, lambda run: run.created_at)
    assert len(pages) == 3


def test_pages_follow_the_oldest_first_sort(admin_client):
    now = timezone.now()
    runs = runs_at(make_workflow(), [now - timedelta(minutes=m) for m in (4, 4, 3, 9, 1, 7, 7, 2)])

    pages = walk(admin_client, RUNS_URL, {"o": "1"})  # the Started column, ascending

    # The admin breaks ties on the primary key, newest id first, whatever the column's direction.
    expected = [run.pk for run in sorted(runs, key=lambda run: (run.created_at, -run.pk))]
    assert flatten(pages) == expected


def test_next_continues_where_the_page_ended_while_runs_arrive(admin_client):
    workflow = make_workflow()
    now = timezone.now()
    runs = runs_at(workflow, [now - timedelta(minutes=m) for m in range(1, 10)])
    first = admin_client.get(RUNS_URL)
    first_ids = page_ids(first)

    arrived = runs_at(workflow, [now, now, now])  # newer than everything: they go before page 1
    second = admin_client.get(RUNS_URL + link(first.content, "next"))

    ordered = newest_first(runs, lambda run: run.created_at)
    assert first_ids == ordered[:3]
    assert page_ids(second) == ordered[3:6]
    # Previous from there shows the new runs' arrival: the page before page 2 as the list is now.
    previous = admin_client.get(RUNS_URL + link(second.content, "previous"))
    assert page_ids(previous) == ordered[:3]
    assert set(page_ids(admin_client.get(RUNS_URL))) == {run.pk for run in arrived}


def test_a_deep_page_reads_no_offset(admin_client):
    runs_at(make_workflow(), [timezone.now() - timedelta(minutes=m) for m in range(10)])
    href = link(admin_client.get(RUNS_URL).content, "next")

    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get(RUNS_URL + href).status_code == 200

    pages = [query["sql"] for query in queries if "ORDER BY" in query["sql"]]
    assert pages, "the page was read"
    assert not any("OFFSET" in sql.upper() for sql in pages), pages


@pytest.mark.parametrize(
    "page",
    [
        "?p=abc",  # cut or made up
        "?p=7",  # a numbered page: there are none
        "?p=" + "A" * 5000,
    ],
)
def test_a_page_link_that_does_not_fit_shows_the_first_page_with_a_message(admin_client, page):
    runs = runs_at(make_workflow(), [timezone.now() - timedelta(minutes=m) for m in range(5)])

    response = admin_client.get(RUNS_URL + page)

    assert page_ids(response) == newest_first(runs, lambda run: run.created_at)[:3]
    [message] = [str(m) for m in response.context["messages"]]
    assert "here is the first page" in message


def test_a_next_link_of_another_sort_order_shows_the_first_page_with_a_message(admin_client):
    runs = runs_at(make_workflow(), [timezone.now() - timedelta(minutes=m) for m in range(5)])
    oldest_first_next = link(admin_client.get(RUNS_URL, {"o": "1"}).content, "next")
    cursor = oldest_first_next.split("p=")[1]

    response = admin_client.get(RUNS_URL, {"p": cursor})  # the default, newest-first order

    assert page_ids(response) == newest_first(runs, lambda run: run.created_at)[:3]
    assert "here is the first page" in str(list(response.context["messages"])[0])


def test_a_cursor_of_another_list_is_refused(admin_client):
    make_inbound_message(status="refused", http_status=404)
    runs = runs_at(make_workflow(), [timezone.now() - timedelta(minutes=m) for m in range(5)])
    log_next = link(admin_client.get(LOG_URL).content, "next")

    response = admin_client.get(RUNS_URL + log_next)

    assert page_ids(response) == newest_first(runs, lambda run: run.created_at)[:3]


def test_the_replay_action_works_on_a_later_page(admin_client):
    runs = runs_at(make_workflow(), [timezone.now() - timedelta(minutes=m) for m in range(5)], status="failed")
    second_page = link(admin_client.get(RUNS_URL).content, "next")
    shown = page_ids(admin_client.get(RUNS_URL + second_page))

    response = admin_client.post(
        RUNS_URL + second_page, {"action": "replay", "_selected_action": shown, "index": 0}, follow=True
    )

    assert response.status_code == 200
    assert set(Run.objects.exclude(replay_of=None).values_list("replay_of_id", flat=True)) == set(shown)
    assert Run.objects.count() == len(runs) + len(shown)


def test_the_count_says_when_it_stopped_counting(admin_client, monkeypatch):
    from workflows.admin import pagination

    monkeypatch.setattr(pagination, "COUNT_CAP", 4)
    runs_at(make_workflow(), [timezone.now() - timedelta(minutes=m) for m in range(6)])

    [count] = texts(admin_client.get(RUNS_URL).content, '//p[@class="paginator"]/span[@class="result-count"]')

    assert count == "4 or more runs"


def test_a_list_that_fits_one_page_has_no_page_links(admin_client):
    runs_at(make_workflow(), [timezone.now()] * 2)

    content = admin_client.get(RUNS_URL).content

    assert texts(content, '//p[@class="paginator"]//a') == []
    assert texts(content, '//p[@class="paginator"]/span[@class="result-count"]') == ["2 runs"]


# --- the inbound log and Failed to start ---------------------------------------------------


def messages_at(times, **fields):
    messages = []
    for received_at in times:
        message = make_inbound_message(**fields)
        InboundMessage.objects.filter(pk=message.pk).update(received_at=received_at)
        messages.append(InboundMessage.objects.get(pk=message.pk))
    return messages


def test_the_inbound_log_pages_with_the_http_status_filter(admin_client):
    now = timezone.now()
    wanted = messages_at([now - timedelta(seconds=s) for s in (1, 1, 2, 5, 5, 5, 8)], status="refused", http_status=404)
    messages_at([now] * 3, status="refused", http_status=403)

    pages = walk(admin_client, LOG_URL, {"http_status": "404"})

    order = newest_first(wanted, lambda message: message.received_at)
    assert flatten(pages) == order
    last_page = link(admin_client.get(LOG_URL, {"http_status": "404"}).content, "last")
    assert_walked_back(walk(admin_client, LOG_URL, start=last_page, follow="previous"), order)


def test_failed_to_start_pages_only_refused_calls(admin_client):
    now = timezone.now()
    refused = messages_at([now - timedelta(seconds=s) for s in range(7)], status="refused", http_status=400)
    messages_at([now - timedelta(seconds=s) for s in range(4)], status="accepted", http_status=200)

    pages = walk(admin_client, FAILED_TO_START_URL)

    assert flatten(pages) == newest_first(refused, lambda message: message.received_at)


# --- invitations ---------------------------------------------------------------------------


def invitations(count, *, distribution=None, **fields):
    distribution = distribution or make_distribution()
    return [
        make_invitation(distribution=distribution, contact=make_contact(email=f"p{i}@example.com"), **fields)
        for i in range(count)
    ]


def test_invitations_page_within_a_distribution_and_a_status(admin_client):
    distribution = make_distribution()
    wanted = invitations(7, distribution=distribution, status="email_sent")
    invitations(3, distribution=distribution, status="pending")
    invitations(4, status="email_sent")

    query = {"distribution": distribution.pk, "status__exact": "email_sent"}
    pages = walk(admin_client, INVITATIONS_URL, query)

    order = sorted((i.pk for i in wanted), reverse=True)
    assert flatten(pages) == order
    last_page = link(admin_client.get(INVITATIONS_URL, query).content, "last")
    assert_walked_back(walk(admin_client, INVITATIONS_URL, start=last_page, follow="previous"), order)


@pytest.mark.parametrize("descending", [False, True])
def test_invitations_sorted_by_sent_at_page_through_the_unsent_ones_too(admin_client, descending):
    now = timezone.now()
    rows = invitations(10)
    sent_at = [now - timedelta(hours=h) for h in (3, 3, 1, 7)] + [None] * 3 + [now, now - timedelta(hours=7), None]
    for invitation, value in zip(rows, sent_at, strict=True):
        Invitation.objects.filter(pk=invitation.pk).update(sent_at=value)
        invitation.sent_at = value
    assert admin.site.get_model_admin(Invitation).list_display[5] == "sent_at"  # no action checkbox before it
    query = {"o": ("-" if descending else "") + "5"}

    pages = walk(admin_client, INVITATIONS_URL, query)

    sent = sorted((i for i in rows if i.sent_at), key=lambda i: (i.sent_at, -i.pk), reverse=descending)
    if descending:  # ties on sent_at still newest id first
        sent = sorted((i for i in rows if i.sent_at), key=lambda i: (-i.sent_at.timestamp(), -i.pk))
    unsent = sorted((i for i in rows if not i.sent_at), key=lambda i: -i.pk)
    order = [i.pk for i in sent + unsent]
    assert flatten(pages) == order  # unsent last, in both directions
    last_page = link(admin_client.get(INVITATIONS_URL, query).content, "last")
    assert_walked_back(walk(admin_client, INVITATIONS_URL, start=last_page, follow="previous"), order)


@pytest.mark.parametrize("url", [RUNS_URL, LOG_URL, FAILED_TO_START_URL, INVITATIONS_URL])
def test_every_sortable_column_pages_every_row_once(admin_client, url):
    now = timezone.now()
    workflow = make_workflow()
    runs_at(workflow, [now - timedelta(minutes=m % 3) for m in range(7)])
    messages_at([now - timedelta(minutes=m % 3) for m in range(7)], status="refused", http_status=404)
    erased = invitations(7)[2:4]  # sorted by contact, their NULLs too must be paged through
    Invitation.objects.filter(pk__in=[i.pk for i in erased]).update(contact=None, sent_at=now)
    changelist = admin_client.get(url).context["cl"]
    total = changelist.queryset.count()
    columns = [
        index
        for index, name in enumerate(changelist.list_display)
        if name != "action_checkbox"
        and (changelist.sortable_by is None or name in changelist.sortable_by)
        and changelist.get_ordering_field(name)
    ]
    assert columns, "the list offers a sort"

    every_row = sorted(changelist.queryset.values_list("pk", flat=True))
    assert len(every_row) == total > PER_PAGE

    for index in columns:
        for direction in ("", "-"):
            listed = flatten(walk(admin_client, url, {"o": f"{direction}{index}"}))
            assert sorted(listed) == every_row, (index, direction)


@pytest.mark.parametrize("order", ["2", "-2.1", "99", "x", "1.-3"])
def test_a_sort_the_list_does_not_offer_is_dropped(admin_client, order):
    # Column 2 (workflow) would sort by the Workflow model's own ordering: not offered, no keyset.
    now = timezone.now()
    runs = runs_at(make_workflow(), [now - timedelta(minutes=m) for m in range(5)])

    response = admin_client.get(RUNS_URL, {"o": order})

    expected = newest_first(runs, lambda run: run.created_at)
    if order in ("-2.1", "1.-3"):  # the Started column (1, after the checkbox), ascending, is kept
        expected = [run.pk for run in sorted(runs, key=lambda run: (run.created_at, -run.pk))]
    assert page_ids(response) == expected[:PER_PAGE]
    assert page_ids(admin_client.get(RUNS_URL + link(response.content, "next"))) == expected[PER_PAGE : 2 * PER_PAGE]


def test_notifications_page_with_the_search(admin_client, monkeypatch):
    workflow = make_workflow()
    wanted = [make_run(workflow=workflow, fields={"Id": "500AA0000012345AAA"}).notification for _ in range(5)]
    make_run(workflow=workflow)
    url = reverse("admin:workflows_notification_changelist")
    monkeypatch.setattr(admin.site.get_model_admin(Notification), "list_per_page", PER_PAGE)

    pages = walk(admin_client, url, {"q": "500AA0000012345AAA"})

    assert flatten(pages) == sorted((n.pk for n in wanted), reverse=True)
