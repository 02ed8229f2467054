"""Admin changelists of big tables: pages that cost the same at any depth, and no full count.

Django's changelist numbers its pages and reads page N with OFFSET (N - 1) × per_page, which
reads and drops every row before the page: at a million runs the last page took 8 s against
30 ms for the first. It also counts every matching row to number the pages.

KeysetPaginationMixin (for a ModelAdmin) instead offers First, Previous, Next and Last, each a
keyset page (workflows/admin/keyset.py): Next continues after the last row shown, Previous
before the first one, Last is the first page of the reversed ordering. Every page is one index
range scan of per_page + 1 rows, so each costs what the first does; there are no links to
numbered pages, which only OFFSET could reach. Filters, search, sorting and actions are the
admin's own: the cursor rides in the page parameter (`p`), which the admin drops whenever a
filter, a search or the sort order changes, so those start again at the first page. A cursor
that is not valid for the list as it is now (a cut link, another sort order) shows the first
page with a message. list_editable is not supported (the page is a list, not a queryset).

The count beside the links is CappedCountPaginator's: exact up to COUNT_CAP rows, past that
"10,000 or more" (or, unfiltered on PostgreSQL, the planner's estimate "about N").
"""

from django.contrib import messages
from django.contrib.admin.views.main import ALL_VAR, ORDER_VAR, PAGE_VAR, ChangeList
from django.core.exceptions import ImproperlyConfigured
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property

from workflows.admin.keyset import AFTER, BEFORE, InvalidCursor, KeysetOrdering

COUNT_CAP = 10_000
LAST_PAGE = "last"


class CappedCountPaginator(Paginator):
    """A paginator that never counts a whole big table.

    - Unfiltered on PostgreSQL: the planner's row estimate (pg_class.reltuples, kept by autovacuum).
    - Otherwise: the rows are counted up to COUNT_CAP, `SELECT COUNT(*) FROM (SELECT id ... LIMIT cap)`,
      which reads at most COUNT_CAP index entries.
    `count_kind` says which: "exact", "at least" (the cap) or "about" (the estimate).
    """

    @cached_property
    def _count_and_kind(self) -> tuple[int, str]:
        queryset = self.object_list
        capped = queryset.order_by().values("pk")[:COUNT_CAP].count()
        if capped < COUNT_CAP:
            return capped, "exact"
        estimate = 0 if queryset.query.where else _estimated_rows(queryset.model)
        return (estimate, "about") if estimate > capped else (capped, "at least")

    @property
    def count(self) -> int:
        return self._count_and_kind[0]

    @property
    def count_kind(self) -> str:
        return self._count_and_kind[1]


def _estimated_rows(model) -> int:
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        row = cursor.fetchone()
    return row[0] if row else 0


class KeysetPage:
    """The rows of one page and the query strings of the links around it (None: no such link)."""

    def __init__(self, rows, *, first, previous, next, last):
        self.rows = rows
        self.first_url = first
        self.previous_url = previous
        self.next_url = next
        self.last_url = last


class KeysetChangeList(ChangeList):
    """A changelist that reads its page by keyset (see the module docstring); `cl.keyset_page`
    holds the page's links, None when the whole result fits on one page or "Show all" is on."""

    def get_ordering(self, request, queryset):
        # The admin sorts by any column named in ?o=, offered (sortable_by) or not; a column it does
        # not offer may have no keyset (a relation sorted by its model's own ordering). Such a sort
        # is dropped, as the admin drops an ?o= that names no column.
        order = self.params.get(ORDER_VAR)
        if order:
            kept = [part for part in order.split(".") if self._offers_sort(part)]
            self.params = {name: value for name, value in self.params.items() if name != ORDER_VAR}
            if kept:
                self.params[ORDER_VAR] = ".".join(kept)
        return super().get_ordering(request, queryset)

    def _offers_sort(self, part: str) -> bool:
        index = part.rpartition("-")[2]
        if not (index.isascii() and index.isdigit() and int(index) < len(self.list_display)):
            return False
        name = self.list_display[int(index)]
        if self.sortable_by is not None and name not in self.sortable_by:
            return False
        order_field = self.get_ordering_field(name)
        if not order_field:
            return False
        try:
            KeysetOrdering(self.model, [order_field, "-pk"])
        except ImproperlyConfigured:
            return False
        return True

    def get_results(self, request):
        paginator = self.model_admin.get_paginator(request, self.queryset, self.list_per_page)
        result_count = paginator.count
        self.result_count = result_count
        self.show_full_result_count = self.model_admin.show_full_result_count
        self.full_result_count = self.root_queryset.count() if self.show_full_result_count else None
        self.show_admin_actions = not self.show_full_result_count or bool(self.full_result_count)
        self.can_show_all = result_count <= self.list_max_show_all
        self.multi_page = result_count > self.list_per_page
        self.paginator = paginator
        self.result_count_label = _count_label(result_count, getattr(paginator, "count_kind", "exact"), self.opts)
        self.show_all_url = None
        if self.can_show_all and not self.show_all and self.multi_page:
            self.show_all_url = self.get_query_string({ALL_VAR: ""})
        self.keyset_page = None
        if (self.show_all and self.can_show_all) or not self.multi_page:
            self.result_list = self.queryset._clone()
            return
        self.keyset_page = self._keyset_page(request)
        self.result_list = self.keyset_page.rows

    def _keyset_page(self, request) -> KeysetPage:
        ordering = KeysetOrdering(self.model, self.queryset.query.order_by)
        size = self.list_per_page
        token = request.GET.get(PAGE_VAR, "")
        if token == LAST_PAGE:
            return self._last_page(ordering)
        if token and token != "1":
            try:
                direction, values = ordering.read_cursor(token)
            except InvalidCursor:
                messages.warning(
                    request,
                    "That page link does not fit this list as it is now (it was cut, or the list was sorted "
                    "differently): here is the first page. Use Next and Previous to move from here.",
                )
            else:
                rows = list(ordering.seek(self.queryset, values, direction=direction)[: size + 1])
                if direction == AFTER and rows:
                    return self._page(ordering, rows[:size], has_previous=True, has_next=len(rows) > size)
                if direction == AFTER:  # the rows after it were deleted meanwhile
                    return self._last_page(ordering)
                if len(rows) > size:  # before: read nearest first, shown in the list's order
                    return self._page(ordering, rows[:size][::-1], has_previous=True, has_next=True)
                # Fewer than a page before it: that is the start of the list, shown as a full first page.
        rows = list(ordering.ordered(self.queryset)[: size + 1])
        return self._page(ordering, rows[:size], has_previous=False, has_next=len(rows) > size)

    def _last_page(self, ordering) -> KeysetPage:
        size = self.list_per_page
        rows = list(ordering.ordered(self.queryset, reverse=True)[: size + 1])
        return self._page(ordering, rows[:size][::-1], has_previous=len(rows) > size, has_next=False)

    def _page(self, ordering, rows, *, has_previous, has_next) -> KeysetPage:
        def link(token):
            return self.get_query_string({PAGE_VAR: token})

        return KeysetPage(
            rows,
            first=link(None) if has_previous else None,
            previous=link(ordering.cursor(rows[0], direction=BEFORE)) if has_previous and rows else None,
            next=link(ordering.cursor(rows[-1], direction=AFTER)) if has_next and rows else None,
            last=link(LAST_PAGE) if has_next else None,
        )


def _count_label(count: int, kind: str, opts) -> str:
    """The count as the list shows it: 1 run, 42 runs, 10,000 or more runs, about 1,000,000 runs."""
    noun = opts.verbose_name if count == 1 and kind == "exact" else opts.verbose_name_plural
    if kind == "at least":
        return f"{count:,} or more {noun}"
    return f"{'about ' if kind == 'about' else ''}{count:,} {noun}"


class KeysetPaginationMixin:
    """For a ModelAdmin of a big table: keyset pages and a capped count (see the module docstring).

    The admin's ordering must name model fields (the changelist appends the primary key); every
    column it offers to sort by must too (sortable_by), or be left out of it.
    """

    paginator = CappedCountPaginator
    show_full_result_count = False
    change_list_template = "admin/keyset/change_list.html"

    def get_changelist(self, request, **kwargs):
        return KeysetChangeList
