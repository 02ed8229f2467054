"""Reporting in the admin: Workflow Reporting (runs), the inbound log and the calls that failed to start."""

from reporting.admin import inbound, runs  # noqa: F401  (registers the model admins)
