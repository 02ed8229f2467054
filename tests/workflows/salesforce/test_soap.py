from xml.etree import ElementTree

from workflows.salesforce.soap import CONTENT_TYPE, ack_response, fault_response

SOAP_ENV = "{http://schemas.xmlsoap.org/soap/envelope/}"
OUTBOUND = "{http://soap.sforce.com/2005/09/outbound}"


def fault_field(response: bytes, name: str) -> str | None:
    return ElementTree.fromstring(response).findtext(f"{SOAP_ENV}Body/{SOAP_ENV}Fault/{name}")


def test_it_acks_with_ack_true():
    root = ElementTree.fromstring(ack_response())

    assert root.findtext(f"{SOAP_ENV}Body/{OUTBOUND}notificationsResponse/{OUTBOUND}Ack") == "true"


def test_it_acks_with_the_documented_envelope():
    assert ack_response() == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
        b"</notificationsResponse></soapenv:Body></soapenv:Envelope>"
    )


def test_it_answers_in_utf8_xml():
    assert CONTENT_TYPE == "text/xml; charset=utf-8"


def test_it_faults_with_the_client_code_for_a_bad_message():
    assert fault_field(fault_response(client_error=True, message="No Id."), "faultcode") == "soapenv:Client"


def test_it_faults_with_the_server_code_for_our_failures():
    assert fault_field(fault_response(client_error=False, message="Try later."), "faultcode") == "soapenv:Server"


def test_it_puts_the_message_in_the_faultstring():
    response = fault_response(client_error=True, message="Notification 3 has no Id.")

    assert fault_field(response, "faultstring") == "Notification 3 has no Id."


def test_it_escapes_markup_in_the_fault_message():
    message = 'The body is not well-formed XML: <a> & "b"'

    assert fault_field(fault_response(client_error=True, message=message), "faultstring") == message


def test_it_keeps_non_ascii_in_the_fault_message():
    response = fault_response(client_error=True, message="Zoë 山田")

    assert fault_field(response, "faultstring") == "Zoë 山田"


def test_it_replaces_characters_xml_cannot_carry():
    response = fault_response(client_error=True, message="bad\x00byte")

    assert fault_field(response, "faultstring") == "bad\ufffdbyte"
