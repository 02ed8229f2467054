"""Read-only history in the admin. The run and inbound-log admins live in reporting (Workflow Reporting)."""


class ReadOnlyMixin:
    """History is appended by the system, never edited here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
