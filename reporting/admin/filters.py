"""List filters that stay cheap on big tables: fixed choices, and date ranges served by an index.

Django's date_hierarchy is avoided on purpose: it lists the years, months and days that have rows
with a `SELECT DISTINCT` over every matching row.
"""

import datetime

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils import timezone


class DateRangeFilter(admin.ListFilter):
    """From and To dates (both included, in the site's time zone) on one datetime field, plus quick ranges."""

    template = "admin/reporting/date_range_filter.html"
    field_name: str = ""
    quick_ranges = (("Today", 0), ("Last 7 days", 6), ("Last 30 days", 29))

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.from_param = f"{self.field_name}_from"
        self.to_param = f"{self.field_name}_to"
        self.from_date = self._pop_date(params, self.from_param)
        self.to_date = self._pop_date(params, self.to_param)
        # The other GET parameters, kept by the From/To form.
        self.other_params = [
            (key, value)
            for key, values in request.GET.lists()
            if key not in (self.from_param, self.to_param, "p")
            for value in values
        ]

    @staticmethod
    def _pop_date(params, name) -> datetime.date | None:
        value = params.pop(name, None)
        if isinstance(value, list):
            value = value[-1]
        if not value:
            return None
        try:
            return datetime.date.fromisoformat(value)
        except ValueError as error:
            raise IncorrectLookupParameters(f"{name}: write the date as YYYY-MM-DD.") from error

    def has_output(self):
        return True

    def expected_parameters(self):
        return [self.from_param, self.to_param]

    def queryset(self, request, queryset):
        start = self.from_date and _start_of(self.from_date)
        end = self.to_date and _start_of(self.to_date, days_after=1)
        if start:
            queryset = queryset.filter(**{f"{self.field_name}__gte": start})
        if end:
            queryset = queryset.filter(**{f"{self.field_name}__lt": end})
        return queryset

    def choices(self, changelist):
        remove = [self.from_param, self.to_param]
        yield {
            "selected": not (self.from_date or self.to_date),
            "query_string": changelist.get_query_string(remove=remove),
            "display": "Any date",
        }
        today = timezone.localdate()
        for label, days_back in self.quick_ranges:
            start = today - datetime.timedelta(days_back)
            yield {
                "selected": self.from_date == start and self.to_date is None,
                "query_string": changelist.get_query_string({self.from_param: start.isoformat()}, [self.to_param]),
                "display": label,
            }


def _start_of(day: datetime.date, *, days_after: int = 0) -> datetime.datetime | None:
    """The midnight starting `day` (+ `days_after`) in the site's time zone, in UTC; None when it
    falls before year 1 or after year 9999, where no row can be: the range needs no bound there."""
    try:
        midnight = datetime.datetime.combine(day + datetime.timedelta(days_after), datetime.time.min)
        return timezone.make_aware(midnight).astimezone(datetime.UTC)
    except OverflowError:
        return None


class StartedFilter(DateRangeFilter):
    title = "started"
    field_name = "created_at"


class ReceivedFilter(DateRangeFilter):
    title = "received"
    field_name = "received_at"


class HttpStatusFilter(admin.SimpleListFilter):
    """The statuses the endpoint answers with (its contract), not a DISTINCT over every call."""

    title = "HTTP status"
    parameter_name = "http_status"
    statuses = {
        200: "200 Ack",
        400: "400 Malformed / wrong object",
        403: "403 Organization not allowed",
        404: "404 Unknown event URL",
        405: "405 Not POST",
        413: "413 Body too large",
        503: "503 Could not store",
    }

    def lookups(self, request, model_admin):
        return [(str(code), label) for code, label in self.statuses.items()]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        # isdigit() alone would also pass "²" and 5,000 digits, which int() refuses.
        if not (len(value) == 3 and value.isascii() and value.isdigit()):
            raise IncorrectLookupParameters("http_status: a three-digit HTTP status, e.g. 404.")
        return queryset.filter(http_status=int(value))


class RefusalHttpStatusFilter(HttpStatusFilter):
    """Failed to start: the statuses of a refusal only (a call answered 200 is never one)."""

    statuses = {code: label for code, label in HttpStatusFilter.statuses.items() if code != 200}


class SourceFilter(admin.SimpleListFilter):
    """Salesforce's events or the admins' test events (a partial index serves the latter)."""

    title = "source"
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return [("salesforce", "Salesforce"), ("test", "Test events")]

    def queryset(self, request, queryset):
        if self.value() == "test":
            return queryset.filter(test_event__isnull=False)
        if self.value() == "salesforce":
            return queryset.filter(test_event__isnull=True)
        return queryset
