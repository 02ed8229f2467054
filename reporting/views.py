"""Reporting downloads, served inside the admin (staff only; see reporting/urls.py)."""

from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header

from distributions.models import Distribution, Survey
from reporting.history import history_csv
from reporting.selectors import HistoryScope, history_scope

# The history lists each invitation (the contact's name and address, the survey link) and its
# response (id, end date, the embedded data recorded on it): the rights to browse both.
HISTORY_PERMISSIONS = ("distributions.view_invitation", "distributions.view_response")


def distribution_history_csv(request, distribution_id: int):
    _check_history_permission(request)
    distribution = get_object_or_404(Distribution.objects.select_related("survey"), pk=distribution_id)
    return _csv_download(history_scope(survey=distribution.survey, distribution=distribution))


def survey_history_csv(request, survey_id: int):
    _check_history_permission(request)
    survey = get_object_or_404(Survey, pk=survey_id)
    return _csv_download(history_scope(survey=survey))


def _check_history_permission(request) -> None:
    if not request.user.has_perms(HISTORY_PERMISSIONS):
        raise PermissionDenied


def _csv_download(scope: HistoryScope) -> StreamingHttpResponse:
    return StreamingHttpResponse(
        history_csv(scope),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition_header(True, scope.filename)},
    )
