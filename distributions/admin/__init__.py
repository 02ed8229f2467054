"""Surveys and distributions in the admin: build and publish surveys, follow every invitation, browse the outboxes."""

from distributions.admin import invitations, sending, sms, surveys  # noqa: F401  (registers the model admins)
