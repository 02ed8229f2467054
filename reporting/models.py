"""Reporting owns no tables: only views of other apps' rows, as proxy models the admin can list."""

from django.db import models

from workflows.models import InboundMessage


class RefusedCallManager(models.Manager):
    def get_queryset(self):
        # served by the inbound_status_recent index (status, received_at desc)
        return super().get_queryset().filter(status=InboundMessage.Status.REFUSED)


class FailedToStart(InboundMessage):
    """Calls the endpoint refused: no notification was stored, so no run started."""

    objects = RefusedCallManager()

    class Meta:
        proxy = True
        verbose_name = "call that failed to start"
        verbose_name_plural = "Failed to start"
