"""The schema's URL, /API/v3/schema/ (a module apart from api.schema, which DRF's settings import
before drf-spectacular's views can be)."""

from django.http import Http404
from drf_spectacular.views import SpectacularAPIView
from rest_framework.response import Response

from api.envelope import ApiError, EnvelopeRenderer


class SchemaView(SpectacularAPIView):
    """The schema (YAML, or JSON with ?format=json). Its errors (an unknown ?format, a method other
    than GET) are answered as every API error is, in the JSON envelope; ?version is ignored, as
    /API/v3/ serves one version (drf-spectacular would write it into the schema: "3 (9)")."""

    def _get_version_parameter(self, request):
        return None

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:  # DRF's answer to an unknown ?format=
            raise ApiError(
                "The schema is served as YAML (no format parameter, or ?format=yaml) or JSON (?format=json).",
                code="NOT_FOUND",
                status=404,
            ) from None

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = EnvelopeRenderer()
            request.accepted_media_type = EnvelopeRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)
