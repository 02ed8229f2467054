"""Reads for reporting: which invitations a distribution history covers, and their rows."""

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Case, CharField, F, Value, When
from django.db.models.functions import Coalesce, NullIf
from django.utils.text import slugify

from distributions.models import Distribution, Invitation, Survey
from distributions.services.invitation_channels import SMS_CHANNELS

SMS_CHANNEL_VALUES = sorted(str(channel) for channel in SMS_CHANNELS)

# Portable path only: rows fetched per round trip (a server-side cursor on PostgreSQL).
ROW_FETCH_SIZE = 2000

# The history row, in CSV column order before formatting (see reporting.history).
HISTORY_ROW_FIELDS = (
    "response__public_id",
    "contact__last_name",
    "contact__first_name",
    "history_address",  # the Email Address column: see `history_address`
    "contact__external_data_reference",
    "status",
    "response__finished_at",
    "token",
    "expires_at",
    "response__embedded_data",
)


@dataclass(frozen=True)
class HistoryScope:
    """The invitations of one distribution, or of every distribution of a survey."""

    survey: Survey
    distribution: Distribution | None
    field_names: tuple[str, ...]  # the survey's declared embedded-data fields: the extra columns

    @property
    def filename(self) -> str:
        name = slugify(self.survey.name) or f"survey-{self.survey.pk}"
        suffix = f"-distribution-{self.distribution.pk}" if self.distribution else ""
        return f"distribution-history-{name}{suffix}.csv"


def history_scope(*, survey: Survey, distribution: Distribution | None = None) -> HistoryScope:
    # Sorted here, not by the database: collations order "=Total" and "Score" differently.
    names = tuple(sorted(survey.fields.values_list("name", flat=True)))
    return HistoryScope(survey=survey, distribution=distribution, field_names=names)


def history_invitations(scope: HistoryScope):
    if scope.distribution is not None:
        return Invitation.objects.filter(distribution=scope.distribution)
    return Invitation.objects.filter(distribution__survey=scope.survey)


def history_address():
    """The history's Email Address column: the address the invitation went to (or is addressed to,
    while pending), not the contact's email as it is now, which may have changed since; for a
    text (SMS invitation, two-way SMS survey) the phone it went to, as the reference's history
    carries an SMS invitation's phone. The header stays the same for every channel. An email
    invitation without an address of its own shows its contact's email."""
    return Case(
        When(distribution__channel__in=SMS_CHANNEL_VALUES, then=F("address")),
        default=Coalesce(NullIf(F("address"), Value("")), F("contact__email")),
        output_field=CharField(),
    )


def history_rows(scope: HistoryScope) -> Iterator[tuple]:
    """One tuple per invitation (HISTORY_ROW_FIELDS), oldest first; None where there is no response."""
    rows = history_invitations(scope).annotate(history_address=history_address()).order_by("id")
    rows = rows.values_list(*HISTORY_ROW_FIELDS)
    return rows.iterator(chunk_size=ROW_FETCH_SIZE)
