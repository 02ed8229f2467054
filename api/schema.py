"""The OpenAPI schema (drf-spectacular) describes the answers as they are sent: in the envelope.

Views declare their result serializers; EnvelopeAutoSchema wraps each success body as
{"result": ..., "meta": ...} and documents the error answers every call may get.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter

from api.authentication import HEADER
from api.base import InputSerializer

META = {
    "type": "object",
    "required": ["httpStatus", "requestId"],
    "properties": {
        "httpStatus": {"type": "string", "example": "200 - OK"},
        "requestId": {"type": "string", "format": "uuid"},
    },
}
ERROR = {
    "type": "object",
    "required": ["meta"],
    "properties": {
        "meta": {
            "type": "object",
            "required": ["httpStatus", "requestId", "error"],
            "properties": {
                **META["properties"],
                "error": {
                    "type": "object",
                    "required": ["errorMessage", "errorCode"],
                    "properties": {
                        "errorMessage": {"type": "string"},
                        "errorCode": {"type": "string"},
                        "fieldErrors": {
                            "type": "object",
                            "description": 'Per field ("" for the request as a whole), what is wrong with it.',
                            "additionalProperties": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
        }
    },
}
ERRORS = {
    "400": "The request is invalid: meta.error says what to change (fieldErrors per field).",
    "401": f"No valid {HEADER} header.",
    "403": "The token's user lacks a permission this call needs.",
    "404": "No such resource, or not one the token's user may see.",
    "405": "The resource does not answer this method.",
    "429": "Too many calls with this token: wait Retry-After seconds.",
}
WRITE_ERRORS = {
    "413": "The body is larger than 2.5 MB (DATA_UPLOAD_MAX_MEMORY_SIZE): split it into smaller calls.",
    "415": "The body must be JSON (Content-Type: application/json).",
    "422": "The Idempotency-Key was used for another call within 24 hours.",
}


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    # As api.idempotency takes it: at most 255 printable ASCII characters.
    {"type": "string", "maxLength": 255, "pattern": "^[!-~]([ -~]*[!-~])?$"},
    location=OpenApiParameter.HEADER,
    description="Any unique string (a UUID): the same key with the same body within 24 hours answers what the "
    "first call answered (header Idempotent-Replayed: true) and changes nothing; with another call, a 422.",
)


class EnvelopeAutoSchema(AutoSchema):
    def get_override_parameters(self):
        # A write decorated with api.idempotency.idempotent honours the header: the schema says so.
        action = getattr(self.view, self.method.lower(), None)
        extra = [IDEMPOTENCY_KEY] if getattr(action, "idempotent", False) else []
        return [*super().get_override_parameters(), *extra]

    def get_description(self):
        # The view's own docstring and its method's, not one inherited from a base class.
        view_doc = type(self.view).__dict__.get("__doc__") or ""
        action = getattr(self.view, self.method.lower(), None)
        return "\n\n".join(part.strip() for part in (view_doc, getattr(action, "__doc__", None) or "") if part)

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if isinstance(serializer, InputSerializer):
            schema["additionalProperties"] = False  # a field it does not define is a 400
        return schema

    def _component(self, name: str, schema: dict) -> dict:
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
        self.registry.register_on_missing(component)
        return component.ref

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        meta = self._component("Meta", META)
        for code, response in responses.items():
            if not code.startswith("2"):
                continue
            content = response.get("content") or {}
            body = content.get("application/json")
            if body is None and not content:
                response["content"] = {"application/json": {"schema": self._envelope(None, meta)}}
            elif body is not None:
                body["schema"] = self._envelope(body["schema"], meta)
        error = self._component("Error", ERROR)
        errors = {**ERRORS, **(WRITE_ERRORS if self.method in ("POST", "PUT", "PATCH", "DELETE") else {})}
        for code, description in errors.items():
            responses.setdefault(code, {"description": description, "content": {"application/json": {"schema": error}}})
        return responses

    @staticmethod
    def _envelope(result: dict | None, meta: dict) -> dict:
        if result is None:
            return {"type": "object", "required": ["meta"], "properties": {"meta": meta}}
        return {"type": "object", "required": ["result", "meta"], "properties": {"result": result, "meta": meta}}


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": HEADER}
