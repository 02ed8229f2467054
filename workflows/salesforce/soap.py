"""The SOAP answers Salesforce expects from an outbound-message listener.

Salesforce only stops retrying on an Ack of true; anything else (a fault, a non-SOAP body, a
non-2xx status) makes it send the whole message again later.
"""

import re
from xml.sax.saxutils import escape

from workflows.salesforce.parse import OUTBOUND_NS, SOAP_ENV_NS

CONTENT_TYPE = "text/xml; charset=utf-8"

_ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
).encode()

# Characters XML 1.0 cannot carry even escaped; one in a fault would make the whole answer unreadable.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def ack_response() -> bytes:
    return _ACK


def fault_response(*, client_error: bool, message: str) -> bytes:
    """A SOAP 1.1 Fault: Client when the message itself is wrong, Server when we failed to take it."""
    code = "soapenv:Client" if client_error else "soapenv:Server"
    text = escape(_NOT_XML_CHAR.sub("\ufffd", message))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>{code}</faultcode><faultstring>{text}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    ).encode()
