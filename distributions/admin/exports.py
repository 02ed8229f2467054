"""The survey's "Export responses" pages in the admin: the form that starts an export, its
progress page (a progress bar polling a JSON view) and the download. Each checks the same
permissions as the REST API's export operations."""

import re

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from distributions.export_file import FORMATS
from distributions.models import ResponseExport, Survey
from distributions.services.response_export import (
    EXPORT_DOWNLOAD_PERMISSIONS,
    EXPORT_START_PERMISSIONS,
    EXPORT_VIEW_PERMISSIONS,
    ExportError,
    response_export_content_type,
    response_export_open,
    response_export_start,
)

RECENT_EXPORTS = 10
_SURVEY_ID = re.compile(r"[0-9]{1,18}")
FORMAT_LABELS = {"csv": "CSV", "tsv": "TSV (tab-separated)", "json": "JSON", "ndjson": "NDJSON (one response per line)"}


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=[(name, FORMAT_LABELS[name]) for name in FORMATS], initial="csv")
    compress = forms.BooleanField(required=False, initial=True, label="Compress (a ZIP holding the file)")
    use_labels = forms.BooleanField(
        required=False, label="Use choice texts", help_text="CSV and TSV: choice texts instead of their numbers."
    )
    start_date = forms.DateTimeField(
        required=False,
        label="Recorded from",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    end_date = forms.DateTimeField(
        required=False,
        label="Recorded before",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Typed times are read in the site's time zone, while the file writes its dates in UTC:
        # say both, or a response recorded at 23:30 UTC seems to fall outside the day asked for.
        zone = timezone.get_current_timezone_name()
        self.fields[
            "start_date"
        ].help_text = (
            f"Responses finished (or last saved) at or after this time, in {zone}. The file's dates are in UTC."
        )
        self.fields["end_date"].help_text = f"Responses finished (or last saved) before this time, in {zone}."


def export_urls(model_admin) -> list:
    """The URLs SurveyAdmin.get_urls adds, wrapped by the admin site (staff login)."""
    view = model_admin.admin_site.admin_view
    return [
        path("<path:object_id>/export-responses/", view(export_start_view), name="distributions_survey_export"),
        path(
            "<path:object_id>/export-responses/<str:export_id>/",
            view(export_progress_view),
            name="distributions_survey_export_progress",
        ),
        path(
            "<path:object_id>/export-responses/<str:export_id>/progress.json",
            view(export_progress_json),
            name="distributions_survey_export_progress_json",
        ),
        path(
            "<path:object_id>/export-responses/<str:export_id>/download/",
            view(export_download),
            name="distributions_survey_export_download",
        ),
    ]


def _survey(request, object_id: str, permissions) -> Survey:
    # Before reading anything: a 403, not a 404 that would tell whether the survey exists.
    if not request.user.has_perms(permissions):
        raise PermissionDenied
    object_id = unquote(object_id)
    # ASCII digits that fit a bigint, or no survey (int() would take "٣" and thousands of digits).
    survey = Survey.objects.filter(pk=object_id).first() if _SURVEY_ID.fullmatch(object_id) else None
    if survey is None:
        raise Http404("No such survey.")
    return survey


def _export(survey, export_id) -> ResponseExport:
    return get_object_or_404(ResponseExport, survey=survey, public_id=export_id)


def _context(request, survey, title, **extra) -> dict:
    return {
        **admin.site.each_context(request),
        "opts": Survey._meta,
        "survey": survey,
        "title": title,
        **extra,
    }


def export_start_view(request, object_id):
    survey = _survey(request, object_id, EXPORT_VIEW_PERMISSIONS)
    may_start = request.user.has_perms(EXPORT_START_PERMISSIONS)
    form = ExportForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not may_start:
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            try:
                export = response_export_start(
                    survey=survey,
                    user=request.user,
                    format=data["format"],
                    compress=data["compress"],
                    use_labels=data["use_labels"],
                    start_date=data["start_date"],
                    end_date=data["end_date"],
                )
            except ExportError as error:
                form.add_error({"startDate": "start_date", "endDate": "end_date"}.get(error.field), error.message)
            else:
                return redirect("admin:distributions_survey_export_progress", survey.pk, export.public_id)
    exports = ResponseExport.objects.filter(survey=survey).select_related("requested_by")[:RECENT_EXPORTS]
    context = _context(
        request,
        survey,
        f"Export responses of {survey}",
        form=form,
        may_start=may_start,
        exports=[(export, _progress_url(survey, export)) for export in exports],
    )
    return TemplateResponse(request, "admin/distributions/survey/export_responses.html", context)


def _progress_url(survey, export) -> str:
    return reverse("admin:distributions_survey_export_progress", args=[survey.pk, export.public_id])


def export_progress_view(request, object_id, export_id):
    survey = _survey(request, object_id, EXPORT_VIEW_PERMISSIONS)
    export = _export(survey, export_id)
    context = _context(
        request,
        survey,
        f"Export {export.public_id} of {survey}",
        export=export,
        progress_json_url=reverse(
            "admin:distributions_survey_export_progress_json", args=[survey.pk, export.public_id]
        ),
        may_download=request.user.has_perms(EXPORT_DOWNLOAD_PERMISSIONS),
        download_url=reverse("admin:distributions_survey_export_download", args=[survey.pk, export.public_id]),
    )
    return TemplateResponse(request, "admin/distributions/survey/export_progress.html", context)


def export_progress_json(request, object_id, export_id):
    """{"status", "percentComplete", "error", "filename", "downloadUrl"} for the progress bar to poll."""
    survey = _survey(request, object_id, EXPORT_VIEW_PERMISSIONS)
    export = _export(survey, export_id)
    complete = export.status == ResponseExport.Status.COMPLETE
    return JsonResponse(
        {
            "status": export.status,
            "percentComplete": export.percent_complete,
            "error": export.error,
            "filename": export.filename,
            "downloadUrl": (
                reverse("admin:distributions_survey_export_download", args=[survey.pk, export.public_id])
                if complete and request.user.has_perms(EXPORT_DOWNLOAD_PERMISSIONS)
                else None
            ),
        }
    )


def export_download(request, object_id, export_id):
    survey = _survey(request, object_id, EXPORT_DOWNLOAD_PERMISSIONS)
    export = _export(survey, export_id)
    try:
        file = response_export_open(export)
    except FileNotFoundError:
        raise Http404("This export has no file: it is not complete, or was deleted.") from None
    return FileResponse(
        file, as_attachment=True, filename=export.filename, content_type=response_export_content_type(export)
    )
