"""Baselines served by the same gunicorn as the product endpoint (see benchmarks/README.md).

bare:    read the body, answer the SOAP Ack: the HTTP + Django ceiling.
minimal: parse with defusedxml, extract notification ids and fields, ONE multi-row INSERT into a
         plain table in one transaction, answer the Ack: the storage floor.
twilio_bare: check X-Twilio-Signature as the inbound webhook does and answer an empty TwiML
         document: the ceiling of /webhooks/twilio/inbound/ (benchmarks/sms_inbound.py).
twilio_record: check the signature, record the text idempotently on its MessageSid (ONE
         INSERT ... ON CONFLICT DO NOTHING into bench_sms_message, shaped as the product's
         distributions_smsmessage) and answer an empty TwiML document: what a webhook costs that
         only records the text and leaves the answer to a worker (sent later through the API).
"""

import json

from defusedxml.ElementTree import fromstring
from django.db import connection, transaction
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from distributions.channels.segments import count_segments
from distributions.channels.sms import twiml_answer
from distributions.services.sms_inbound import sms_keyword
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

# distributions_smsmessage's columns, with the sender's number where the product has its
# conversation (found or created, and locked, by whatever answers the text later), and the same
# partial unique index that makes a MessageSid recorded once.
BENCH_SMS_TABLE_SQL = {
    "postgresql": (
        "CREATE TABLE IF NOT EXISTS bench_sms_message ("
        " id bigserial PRIMARY KEY, from_number varchar(34) NOT NULL, direction varchar(8) NOT NULL,"
        " body text NOT NULL, our_number varchar(34) NOT NULL, provider varchar(20) NOT NULL,"
        " message_sid varchar(64) NOT NULL, status varchar(12) NOT NULL, error_code varchar(10) NOT NULL,"
        " status_detail text NOT NULL, segments smallint NOT NULL, keyword varchar(8) NOT NULL,"
        " in_reply_to_id bigint NULL, invitation_id bigint NULL,"
        " created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)",
        "CREATE UNIQUE INDEX IF NOT EXISTS bench_sms_message_sid_once ON bench_sms_message (message_sid)"
        " WHERE message_sid <> ''",
    ),
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS bench_sms_message ("
        " id integer PRIMARY KEY, from_number text NOT NULL, direction text NOT NULL, body text NOT NULL,"
        " our_number text NOT NULL, provider text NOT NULL, message_sid text NOT NULL, status text NOT NULL,"
        " error_code text NOT NULL, status_detail text NOT NULL, segments integer NOT NULL,"
        " keyword text NOT NULL, in_reply_to_id integer NULL, invitation_id integer NULL,"
        " created_at text NOT NULL, updated_at text NOT NULL)",
        "CREATE UNIQUE INDEX IF NOT EXISTS bench_sms_message_sid_once ON bench_sms_message (message_sid)"
        " WHERE message_sid <> ''",
    ),
}
_SMS_RECORD = (
    "INSERT INTO bench_sms_message (from_number, direction, body, our_number, provider, message_sid, status,"
    " error_code, status_detail, segments, keyword, created_at, updated_at)"
    " VALUES (%s, 'inbound', %s, %s, 'twilio', %s, 'received', '', '', %s, %s, %s, %s)"
    " ON CONFLICT (message_sid) WHERE message_sid <> '' DO NOTHING"
)


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


@csrf_exempt
def twilio_record(request):
    if not twilio_signed(request, "bench-twilio-record"):
        return HttpResponseForbidden("Invalid or missing X-Twilio-Signature.", content_type="text/plain")
    sid, sender = request.POST.get("MessageSid", "").strip(), request.POST.get("From", "").strip()
    if not sid or not sender:
        return HttpResponseBadRequest("MessageSid and From are required.", content_type="text/plain")
    body, now = request.POST.get("Body", ""), timezone.now()
    # One statement in autocommit: a replayed MessageSid inserts nothing and is answered the same.
    with connection.cursor() as cursor:
        cursor.execute(
            _SMS_RECORD,
            [sender, body, request.POST.get("To", "").strip(), sid, count_segments(body).segments, sms_keyword(body)]
            + [now, now],
        )
    return HttpResponse(twiml_answer(), content_type=TWIML)
