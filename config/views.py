"""Project-wide answers that belong to no app."""

from django.contrib import admin
from django.shortcuts import render


def permission_denied(request, exception=None):
    """Django's answer to PermissionDenied, as a page in the admin's look (its header, user tools
    and a way home): every view that raises it is a staff page. -> HTTP 403."""
    return render(request, "403.html", admin.site.each_context(request), status=403)
