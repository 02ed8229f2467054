"""Response exports, asynchronous as the reference does them:
POST /surveys/{surveyId}/export-responses starts one, GET .../export-responses/{exportProgressId}
says how far it got, GET .../export-responses/{fileId}/file downloads the file.
"""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.base import ApiView, InputSerializer, get_or_404, utc_datetime, validated
from api.envelope import ApiError
from api.idempotency import idempotent
from api.resources.surveys import survey_or_404
from distributions.export_file import CONTENT_TYPES, FORMATS
from distributions.models import ResponseExport
from distributions.services.response_export import (
    EXPORT_DOWNLOAD_PERMISSIONS,
    EXPORT_START_PERMISSIONS,
    EXPORT_VIEW_PERMISSIONS,
    ExportError,
    response_export_content_type,
    response_export_open,
    response_export_start,
)

MAX_SELECTED = 1000


class ExportRequestSerializer(InputSerializer):
    format = serializers.ChoiceField(choices=FORMATS, help_text="csv, tsv, json or ndjson.")
    compress = serializers.BooleanField(default=True, help_text="A ZIP holding the one file (the default).")
    useLabels = serializers.BooleanField(
        default=False, help_text="CSV and TSV: choice texts instead of their numbers, True/False for Finished."
    )
    startDate = utc_datetime(required=False, help_text="Only responses recorded at or after this time.")
    endDate = utc_datetime(required=False, help_text="Only responses recorded before this time.")
    questionIds = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        max_length=MAX_SELECTED,
        help_text="Only these questions (QID…); all by default.",
    )
    embeddedDataIds = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=MAX_SELECTED,
        help_text="Only these declared embedded-data fields; all by default.",
    )


class ExportProgressSerializer(serializers.Serializer):
    progressId = serializers.CharField(source="public_id")
    percentComplete = serializers.FloatField(source="percent_complete")
    status = serializers.CharField(help_text="inProgress, complete or failed.")


class ExportStatusSerializer(serializers.Serializer):
    fileId = serializers.CharField(source="file_id", allow_null=True, help_text="Set once the export is complete.")
    percentComplete = serializers.FloatField(source="percent_complete")
    status = serializers.CharField(help_text="inProgress, complete or failed.")
    errorMessage = serializers.CharField(source="error", allow_null=True, help_text="Why it failed.")

    def to_representation(self, export):
        data = super().to_representation(export)
        return {**data, "fileId": data["fileId"] or None, "errorMessage": data["errorMessage"] or None}


def _export_or_404(survey, message: str, **lookups) -> ResponseExport:
    return get_or_404(ResponseExport.objects.filter(survey=survey), message, **lookups)


class ExportStartView(ApiView):
    required_permissions = {"POST": EXPORT_START_PERMISSIONS}

    @extend_schema(
        operation_id="createResponseExport", request=ExportRequestSerializer, responses=ExportProgressSerializer
    )
    @idempotent
    def post(self, request, survey_id):
        """Start exporting the survey's responses; poll the progressId until status is complete."""
        survey = survey_or_404(survey_id)
        data = validated(ExportRequestSerializer, request.data)
        try:
            export = response_export_start(
                survey=survey,
                user=request.user,
                format=data["format"],
                compress=data["compress"],
                use_labels=data["useLabels"],
                start_date=data.get("startDate"),
                end_date=data.get("endDate"),
                question_ids=data.get("questionIds"),
                embedded_data_ids=data.get("embeddedDataIds"),
            )
        except ExportError as error:
            raise serializers.ValidationError({error.field: [error.message]}) from None
        return Response(ExportProgressSerializer(export).data)


class ExportProgressView(ApiView):
    required_permissions = {"GET": EXPORT_VIEW_PERMISSIONS}

    @extend_schema(operation_id="getResponseExportProgress", responses=ExportStatusSerializer)
    def get(self, request, survey_id, export_progress_id):
        survey = survey_or_404(survey_id)
        export = _export_or_404(
            survey,
            f"No export {export_progress_id} of survey {survey_id}: start one with POST .../export-responses.",
            public_id=export_progress_id,
        )
        return Response(ExportStatusSerializer(export).data)


FILE_TYPES = {(200, CONTENT_TYPES[kind].split(";")[0]): OpenApiTypes.BINARY for kind in ("zip", *FORMATS)}


class ExportFileView(ApiView):
    required_permissions = {"GET": EXPORT_DOWNLOAD_PERMISSIONS}

    @extend_schema(
        operation_id="getResponseExportFile",
        responses={**FILE_TYPES, 404: OpenApiResponse(description="No such file, or it was deleted.")},
    )
    def get(self, request, survey_id, file_id):
        """The export's file (a ZIP unless compress was false), with its name in Content-Disposition.
        Files are kept 7 days."""
        survey = survey_or_404(survey_id)
        message = f"No file {file_id} of survey {survey_id}: its export's status gives the fileId once complete."
        export = _export_or_404(survey, message, file_id=file_id, status=ResponseExport.Status.COMPLETE)
        try:
            file = response_export_open(export)
        except FileNotFoundError:
            raise ApiError(message, code="NOT_FOUND", status=404) from None
        return FileResponse(
            file, as_attachment=True, filename=export.filename, content_type=response_export_content_type(export)
        )
