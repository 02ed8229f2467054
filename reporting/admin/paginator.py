"""A paginator that never counts a whole big table.

Django's admin asks its paginator for the number of matching rows on every changelist page: a
`SELECT COUNT(*)` over all matching rows, which at a million runs costs more than the page itself.
- Unfiltered on PostgreSQL: the planner's row estimate (pg_class.reltuples, kept by autovacuum).
- Otherwise: the rows are counted up to COUNT_CAP, `SELECT COUNT(*) FROM (SELECT id ... LIMIT cap)`,
  which reads at most COUNT_CAP index entries. Past it the changelist shows COUNT_CAP rows (100
  pages); a narrower filter finds the rest.
"""

from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    @cached_property
    def count(self):
        queryset = self.object_list
        capped = queryset.order_by().values("pk")[:COUNT_CAP].count()
        if capped < COUNT_CAP or queryset.query.where:
            return capped
        return max(capped, _estimated_rows(queryset.model))


def _estimated_rows(model) -> int:
    if connection.vendor != "postgresql":
        return COUNT_CAP
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        row = cursor.fetchone()
    return row[0] if row else COUNT_CAP
