"""A generic SOAP client (zeep) built from the outbound-message WSDL talks to the real endpoint.

zeep serialises the request from tests/fixtures/salesforce/Case.wsdl its own way (a prefix per
element, xsi:nil SessionId) and parses our answer with the WSDL's notificationsResponse.
"""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin
from zeep.transports import Transport

from tests.factories import ORGANIZATION_ID, make_workflow
from workflows.models import InboundMessage, Notification, Run

WSDL = Path(__file__).resolve().parents[1] / "fixtures" / "salesforce" / "Case.wsdl"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
SOBJECT = "urn:sobject.enterprise.soap.sforce.com"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
NOTIFICATION_ID = "04l5g00000ABCDEAAA"
CASE_ID = "5005g00000XYZ12AAA"

pytestmark = pytest.mark.django_db(transaction=True)


class SalesforceXsiType(zeep.Plugin):
    """Tag each sObject with xsi:type as Salesforce does (zeep omits it: the WSDL declares Case)."""

    def egress(self, envelope, http_headers, operation, binding_options):
        for sobject in envelope.iter(f"{{{OUTBOUND}}}sObject"):
            sobject.set(XSI_TYPE, etree.QName(SOBJECT, "Case"))
        return envelope, http_headers


@pytest.fixture(autouse=True)
def no_run_execution(monkeypatch):
    """Only the endpoint is under test here: store the runs, leave them queued."""
    from workflows.services import ingest

    monkeypatch.setattr(ingest, "workers_wake", lambda runs: None)


@pytest.fixture
def history():
    return HistoryPlugin()


def send(live_server, workflow, history, *plugins):
    session = requests.Session()
    # No keep-alive: the live server's request thread then ends with the call and closes its
    # database connection (PostgreSQL cannot drop the test database while one is open).
    session.headers["Connection"] = "close"
    client = zeep.Client(str(WSDL), plugins=[*plugins, history], transport=Transport(session=session))
    service = client.create_service(f"{{{OUTBOUND}}}NotificationBinding", live_server.url + workflow.event_path)
    case = client.get_type(f"{{{SOBJECT}}}Case")(
        Id=CASE_ID,
        CaseNumber="00001026",
        ContactEmail="ada@example.com",
        Customer_First_Name__c="Ada",
        Subject="<b>Broken</b> & Zoë",
        IsClosed=True,
        Satisfaction_Score__c=4.5,
        ClosedDate=datetime(2026, 11, 28, 17, 23, tzinfo=UTC),
    )
    return service.notifications(
        OrganizationId=ORGANIZATION_ID,
        ActionId="04k5g000000ABCDAAA",
        SessionId=None,
        EnterpriseUrl="https://example.my.salesforce.com/services/Soap/c/62.0/00D5g000004ABCD",
        PartnerUrl="https://example.my.salesforce.com/services/Soap/u/62.0/00D5g000004ABCD",
        Notification=[{"Id": NOTIFICATION_ID, "sObject": case}],
    )


def sent_body(history):
    return etree.tostring(history.last_sent["envelope"], pretty_print=True, encoding="unicode")


def assert_stored_as_sent():
    notification = Notification.objects.get()
    assert (notification.notification_id, notification.sobject_type, notification.record_id) == (
        NOTIFICATION_ID,
        "Case",
        CASE_ID,
    )
    assert notification.organization_key == ORGANIZATION_ID[:15]
    assert notification.fields == {
        "Id": CASE_ID,
        "CaseNumber": "00001026",
        "ContactEmail": "ada@example.com",
        "Customer_First_Name__c": "Ada",
        "Subject": "<b>Broken</b> & Zoë",
        "IsClosed": "true",
        "Satisfaction_Score__c": "4.5",
        "ClosedDate": "2026-11-28T17:23:00Z",
    }
    assert Run.objects.filter(notification=notification).count() == 1


def test_it_acks_a_message_zeep_sends_with_xsi_type_and_stores_its_fields(live_server, history):
    workflow = make_workflow()

    ack = send(live_server, workflow, history, SalesforceXsiType())

    assert ack is True
    assert_stored_as_sent()


def test_it_acks_a_message_zeep_sends_as_the_wsdl_declares_it(live_server, history):
    """No xsi:type on sObject: the WSDL declares sObject as ens:Case, so it is schema-valid."""
    workflow = make_workflow()

    try:
        ack = send(live_server, workflow, history)
    except Fault as fault:
        reason = InboundMessage.objects.values_list("http_status", "reason").last()
        pytest.fail(f"refused {reason}: {fault.message}\nzeep sent:\n{sent_body(history)}")

    assert ack is True
    assert_stored_as_sent()
