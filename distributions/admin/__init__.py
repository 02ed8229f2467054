"""Surveys and distributions in the admin: build and publish surveys, follow every invitation, browse the outbox."""

from distributions.admin import invitations, sending, surveys  # noqa: F401  (registers the model admins)
