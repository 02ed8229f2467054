"""Distribution summary and dashboard figures: aggregate reads, one query per figure.

Every figure is grouped by the database and comes back as a handful of rows (channels × days ×
statuses), so the page costs the same number of queries at ten invitations or a million.
Days are calendar days in the site's time zone (TIME_ZONE), the last WINDOW_DAYS including today.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from distributions.models import DeliveryEvent, Distribution, Invitation, Response, Survey
from distributions.selectors import OPENED, invitations_sent, opted_out_after_sending
from workflows.models import Run

WINDOW_DAYS = 14
CHANNEL_LABELS = dict(Distribution.Channel.choices)
CHANNEL_ORDER = list(CHANNEL_LABELS)
RUN_STATUS_LABELS = dict(Run.Status.choices)

Status = Invitation.Status

# Event kinds that say the message reached the recipient: anymail's "delivered" for email, and the
# spellings an SMS provider or an older webhook may have recorded.
DELIVERED_EVENT_KINDS = ("delivered", "email_delivered", "sms_delivered")


def ratio(part: int, whole: int) -> float | None:
    """part ÷ whole, or None when there is nothing to divide by (shown as "—")."""
    return part / whole if whole else None


def window_days(*, days: int = WINDOW_DAYS, today: date | None = None) -> list[date]:
    today = today or timezone.localdate()
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def window_start(day: date) -> datetime:
    """Midnight at the start of `day` in the current time zone: the lower bound of the window."""
    return timezone.make_aware(datetime.combine(day, time.min))


# --- per survey -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelSummary:
    channel: str
    audience: int  # invitations
    started: int  # invitations with a response (Survey Started or beyond)
    finished: int  # responses with finished_at

    @property
    def label(self) -> str:
        return CHANNEL_LABELS.get(self.channel, self.channel)

    @property
    def response_rate(self) -> float | None:
        return ratio(self.started, self.audience)

    @property
    def completion_rate(self) -> float | None:
        return ratio(self.finished, self.started)


@dataclass(frozen=True)
class DailyResponses:
    """One channel's responses per day: started (by started_at) and finished (by finished_at)."""

    channel: str
    days: list[date]
    started: list[int]
    finished: list[int]

    @property
    def label(self) -> str:
        return CHANNEL_LABELS.get(self.channel, self.channel)


def survey_channel_summary(*, survey: Survey) -> list[ChannelSummary]:
    """Per channel that has invitations, in the channel choices' order. One query.

    Started counts responses rather than statuses: a response is what the survey page creates when
    the recipient starts, and a later event (say a bounce) can never take it away.
    """
    rows = (
        Invitation.objects.filter(distribution__survey=survey)
        .values("distribution__channel")
        .annotate(
            audience=Count("id"),
            started=Count("response"),
            finished=Count("response", filter=Q(response__finished_at__isnull=False)),
        )
        .order_by()
    )
    summaries = [
        ChannelSummary(
            channel=row["distribution__channel"],
            audience=row["audience"],
            started=row["started"],
            finished=row["finished"],
        )
        for row in rows
    ]
    return sorted(summaries, key=lambda summary: _channel_position(summary.channel))


def survey_daily_responses(
    *, survey: Survey, channels: list[str], days: int = WINDOW_DAYS, today: date | None = None
) -> list[DailyResponses]:
    """Responses started and finished per day and channel over the window, zero days included. One query.

    Grouped by (channel, start day, finish day) so a single grouped query serves both series: a
    response started before the window but finished inside it counts only on its finish day.
    """
    day_list = window_days(days=days, today=today)
    start = window_start(day_list[0])
    rows = (
        Response.objects.filter(survey=survey)
        .filter(Q(started_at__gte=start) | Q(finished_at__gte=start))
        .annotate(started_day=TruncDate("started_at"), finished_day=TruncDate("finished_at"))
        .values_list("invitation__distribution__channel", "started_day", "finished_day")
        .annotate(count=Count("id"))
        .order_by()
    )
    index = {day: position for position, day in enumerate(day_list)}
    started = {channel: [0] * days for channel in channels}
    finished = {channel: [0] * days for channel in channels}
    for channel, started_day, finished_day, count in rows:
        if channel not in started:
            continue
        if started_day in index:
            started[channel][index[started_day]] += count
        if finished_day in index:
            finished[channel][index[finished_day]] += count
    return [
        DailyResponses(channel=channel, days=day_list, started=started[channel], finished=finished[channel])
        for channel in channels
    ]


def _channel_position(channel: str) -> int:
    return CHANNEL_ORDER.index(channel) if channel in CHANNEL_ORDER else len(CHANNEL_ORDER)


# --- dashboard --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunsPerDay:
    days: list[date]
    by_status: dict[str, list[int]]  # every Run status, in its choices' order, one count per day


def runs_per_day_by_status(*, days: int = WINDOW_DAYS, today: date | None = None) -> RunsPerDay:
    """Workflow runs created per day, by current status, over the window, test events' runs left
    out. One query."""
    day_list = window_days(days=days, today=today)
    rows = (
        Run.objects.filter(created_at__gte=window_start(day_list[0]), test_event__isnull=True)
        .annotate(day=TruncDate("created_at"))
        .values_list("day", "status")
        .annotate(count=Count("id"))
        .order_by()
    )
    index = {day: position for position, day in enumerate(day_list)}
    by_status = {status: [0] * days for status in RUN_STATUS_LABELS}
    for day, status, count in rows:
        if day in index and status in by_status:
            by_status[status][index[day]] += count
    return RunsPerDay(days=day_list, by_status=by_status)


@dataclass(frozen=True)
class FunnelStep:
    label: str
    count: int
    counted_as: str  # how the step is counted, shown under the chart


# Each step counts invitations that got at least this far: its own evidence, or any later step's
# (statuses only move forward, and a response means the message arrived and was seen), so every
# step is at most the one before it.
FUNNEL_RULES = {
    "Sent": "status Email/SMS Sent or any later status (bounced, opened, complaint, expired, survey …), "
    "Opted Out after it was sent, a delivered event, or a response",
    "Delivered": "a delivered event (delivered, email_delivered, sms_delivered), status SMS Delivered, "
    "Email Opened or a survey status, Opted Out after it was sent (from the message itself), or a response",
    "Opened": "status Email Opened or a survey status, or a response (SMS has no open tracking: starting "
    "the survey counts as opening it)",
    "Started": "has a response (Survey Started or beyond)",
    "Finished": "its response has a finish time (Survey Finished)",
}


def invitation_funnel(*, days: int = WINDOW_DAYS, today: date | None = None) -> list[FunnelStep]:
    """Invitations created in the window, step by step: sent → delivered → opened → started → finished.
    Invitations of test events' runs are left out.

    One query: an aggregate over the window's invitations, the delivered event checked per row by
    an EXISTS on the events' invitation index.
    """
    start = window_start(window_days(days=days, today=today)[0])
    responded = Q(response__isnull=False)
    # The recipient opted out from the message itself (its link, STOP, the mailbox's button): it arrived.
    delivered = (
        Q(has_delivered_event=True)
        | Q(status__in=(Status.SMS_DELIVERED, *OPENED))
        | opted_out_after_sending()
        | responded
    )
    delivered_event = DeliveryEvent.objects.filter(invitation=OuterRef("pk"), kind__in=DELIVERED_EVENT_KINDS)
    counts = (
        Invitation.objects.filter(created_at__gte=start)
        .filter(distribution__run__test_event__isnull=True)
        .annotate(has_delivered_event=Exists(delivered_event))
        .aggregate(
            sent=Count("id", filter=invitations_sent() | delivered),
            delivered=Count("id", filter=delivered),
            opened=Count("id", filter=Q(status__in=OPENED) | responded),
            started=Count("id", filter=responded),
            finished=Count("id", filter=Q(response__finished_at__isnull=False)),
        )
    )
    return [
        FunnelStep(label=label, count=counts[label.lower()], counted_as=rule) for label, rule in FUNNEL_RULES.items()
    ]


def recent_surveys(*, limit: int = 50) -> list[Survey]:
    """The most recently created surveys, to link from the dashboard to their summaries."""
    return list(Survey.objects.order_by("-created_at", "-id")[:limit])
