"""Cursor pagination as the reference does it: `pageSize`, and `skipToken` taken from `nextPage`.

A list is read in a fixed order of an indexed key (the id, or (created_at, id) for runs), and the
skipToken carries the last key of the page, signed: the next page is `key > last` (an index range
scan), so page 10,000 costs what page 1 does and rows added meanwhile neither repeat nor shift the
pages. The signature keeps tokens opaque and refuses any that this API did not give out.
"""

import functools
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from rest_framework import serializers

from api.envelope import ApiError

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
_SALT = "api.skipToken"


class PageQuerySerializer(serializers.Serializer):
    pageSize = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_PAGE_SIZE,
        default=DEFAULT_PAGE_SIZE,
        help_text=f"Elements per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}).",
    )
    skipToken = serializers.CharField(
        required=False, help_text="From the previous page's nextPage: where the next page starts."
    )


def skip_token(list_name: str, key) -> str:
    """The skipToken of the page after the row whose key (in the list's order) is `key`."""
    return signing.dumps(key, salt=f"{_SALT}.{list_name}", compress=True)


class Page:
    """One page of a list: `after` is the key to continue after (None on the first page).

    Use: page = Page(request, list_name="contacts"); rows = fetch(after=page.after, limit=page.fetch_size);
    return page.result(rows, key=lambda row: row.pk, serialize=...)
    """

    def __init__(self, request, *, list_name: str):
        query = PageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        self.request = request
        self.list_name = list_name
        self.size = query.validated_data["pageSize"]
        self.after = None
        token = query.validated_data.get("skipToken")
        if token:
            try:
                self.after = signing.loads(token, salt=f"{_SALT}.{list_name}")
            except signing.BadSignature:
                raise ApiError(
                    "skipToken is not one this list gave out: follow nextPage from the previous page, "
                    "or leave skipToken out for the first page.",
                    code="INVALID_SKIP_TOKEN",
                ) from None

    @property
    def fetch_size(self) -> int:
        """Rows to read: one more than the page holds tells whether a next page exists."""
        return self.size + 1

    def result(self, rows: list, *, key, serialize) -> dict:
        """{"elements": [...], "nextPage": URL or None} for `rows` as read with fetch_size;
        `key(row)` is the row's key in the list's order (JSON-serialisable)."""
        shown = rows[: self.size]
        next_page = None
        if len(rows) > self.size:
            next_page = self._url(skip_token(self.list_name, key(shown[-1])))
        return {"elements": [serialize(row) for row in shown], "nextPage": next_page}

    def _url(self, token: str) -> str:
        # PUBLIC_BASE_URL, as every link the product gives out: the address clients reach us at,
        # whatever proxy the call came through. path_info is the path inside the site.
        query = [
            (name, value)
            for name, values in self.request.query_params.lists()
            if name != "skipToken"
            for value in values
        ]
        query.append(("skipToken", token))
        return f"{settings.PUBLIC_BASE_URL}{self.request.path_info}?{urlencode(query)}"


@functools.cache
def page_of(item_serializer: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The schema of a page of `item_serializer`'s elements: {"elements": [...], "nextPage": URL|null}."""
    name = item_serializer.__name__.removesuffix("Serializer") + "PageSerializer"
    fields = {
        "elements": item_serializer(many=True),
        "nextPage": serializers.URLField(allow_null=True, help_text="The next page, or null on the last one."),
    }
    return type(name, (serializers.Serializer,), {**fields, "__module__": item_serializer.__module__})
