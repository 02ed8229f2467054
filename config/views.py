"""Project-wide answers that belong to no app."""

from django.contrib import admin
from django.shortcuts import render


def permission_denied(request, exception=None):
    """Django's answer to PermissionDenied, as a page in the admin's look (its header, user tools
    and a way home): every view that raises it is a staff page. -> HTTP 403.

    A refusal made before the user is known (CommonMiddleware's DISALLOWED_USER_AGENTS) gets the
    page without the admin's context, which needs the user."""
    context = admin.site.each_context(request) if hasattr(request, "user") else {}
    return render(request, "403.html", context, status=403)
