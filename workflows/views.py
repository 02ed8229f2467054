from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from workflows.salesforce.soap import CONTENT_TYPE
from workflows.services.ingest import Call, inbound_message_receive


@csrf_exempt
def salesforce_event(request, token):
    """Transport only: read at most the size cap (+1, to tell "too large"), then hand over."""
    answer = inbound_message_receive(
        Call(
            token=token,
            method=request.method,
            body=request.read(settings.SALESFORCE_MAX_BODY_BYTES + 1),
            content_type=request.content_type or "",
            remote_addr=request.META.get("REMOTE_ADDR") or None,
        )
    )
    return HttpResponse(answer.body, status=answer.status, content_type=CONTENT_TYPE)
