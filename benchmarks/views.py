"""Baselines served by the same gunicorn as the product endpoint (see benchmarks/README.md).

bare:    read the body, answer the SOAP Ack: the HTTP + Django ceiling.
minimal: parse with defusedxml, extract notification ids and fields, ONE multi-row INSERT into a
         plain table in one transaction, answer the Ack: the storage floor.
twilio_bare: check X-Twilio-Signature as the inbound webhook does and answer an empty TwiML
         document: the ceiling of /webhooks/twilio/inbound/ (benchmarks/sms_inbound.py).
"""

import json

from defusedxml.ElementTree import fromstring
from django.db import connection, transaction
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt

from distributions.channels.sms import twiml_answer
from distributions.views.twilio import TWIML, twilio_signed
from workflows.salesforce.soap import CONTENT_TYPE, ack_response

_SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
_OUT = "{http://soap.sforce.com/2005/09/outbound}"

# The table per database; on SQLite a JSON column is text, as the product's JSONField columns are.
BENCH_TABLE_SQL = {
    "postgresql": "CREATE TABLE IF NOT EXISTS bench_notification ("
    " id bigserial PRIMARY KEY, org text NOT NULL, notification_id text NOT NULL, fields jsonb NOT NULL)",
    "sqlite": "CREATE TABLE IF NOT EXISTS bench_notification ("
    " id integer PRIMARY KEY, org text NOT NULL, notification_id text NOT NULL, fields text NOT NULL)",
}
_JSON_VALUE = {"postgresql": "%s::jsonb", "sqlite": "%s"}


@csrf_exempt
def bare(request):
    request.read()  # the body is received in full, as every real endpoint must
    return HttpResponse(ack_response(), content_type=CONTENT_TYPE)


@csrf_exempt
def minimal(request):
    root = fromstring(request.body)
    notifications = root.find(f"{_SOAP}Body/{_OUT}notifications")
    org = notifications.findtext(f"{_OUT}OrganizationId")
    rows = []
    for item in notifications.iterfind(f"{_OUT}Notification"):
        sobject = item.find(f"{_OUT}sObject")
        fields = {child.tag.rpartition("}")[2]: child.text for child in sobject}
        rows.append((org, item.findtext(f"{_OUT}Id"), json.dumps(fields)))
    if rows:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_notification (org, notification_id, fields) VALUES "
                + ", ".join([f"(%s, %s, {_JSON_VALUE[connection.vendor]})"] * len(rows)),
                [value for row in rows for value in row],
            )
    return HttpResponse(ack_response(), content_type=CONTENT_TYPE)


@csrf_exempt
def twilio_bare(request):
    if not twilio_signed(request, "bench-twilio-bare"):
        return HttpResponseForbidden("Invalid or missing X-Twilio-Signature.", content_type="text/plain")
    return HttpResponse(twiml_answer(), content_type=TWIML)
