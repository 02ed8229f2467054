import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

import pytest

from workflows.salesforce.build import (
    KEY_PREFIXES,
    build_outbound_message,
    case_safe_id,
    salesforce_id,
)
from workflows.salesforce.parse import parse_outbound_message

ENV = "{http://schemas.xmlsoap.org/soap/envelope/}"
OUT = "{http://soap.sforce.com/2005/09/outbound}"
SF = "{urn:sobject.enterprise.soap.sforce.com}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
ORG = "00D000000000001EAA"
ACTION = "04k000000000001AAA"
CASE_ID = "500000000000001AAA"


def build(*records: Mapping[str, str | None], sobject_type: str = "Case", **kwargs: str) -> bytes:
    notifications = [(f"04l00000000000{i}AAA", fields) for i, fields in enumerate(records, 1)]
    return build_outbound_message(
        organization_id=ORG,
        action_id=ACTION,
        sobject_type=sobject_type,
        notifications=notifications,
        **kwargs,
    )


def notifications_of(payload: bytes) -> ET.Element:
    root = ET.fromstring(payload)
    assert root.tag == f"{ENV}Envelope"
    body = root.find(f"{ENV}Body")
    assert body is not None
    element = body.find(f"{OUT}notifications")
    assert element is not None
    return element


def sobjects_of(payload: bytes) -> list[ET.Element]:
    return notifications_of(payload).findall(f"{OUT}Notification/{OUT}sObject")


# 15 -> 18 conversions published in worked examples of the algorithm, not computed here.
@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        ("001300000035VOj", "001300000035VOjAAM"),
        ("a0D30000001n7Pi", "a0D30000001n7PiEAI"),
        ("a0RE000000IJmcN", "a0RE000000IJmcNMAT"),
        ("001M000000qfPyS", "001M000000qfPySIAU"),
        ("a0FE000000D6r3F", "a0FE000000D6r3FMAR"),
        ("0019000000B98de", "0019000000B98deAAB"),
    ],
)
def test_it_computes_the_published_case_safe_suffix(id15: str, id18: str) -> None:
    assert case_safe_id(id15) == id18


def test_it_rejects_an_id_that_is_not_15_alphanumerics() -> None:
    with pytest.raises(ValueError):
        case_safe_id("001300000035VO!")


def test_it_makes_an_18_char_id_with_the_prefix_and_a_valid_checksum() -> None:
    made = salesforce_id("500")

    assert re.fullmatch(r"500[0-9A-Za-z]{12}[A-Z0-5]{3}", made)
    assert case_safe_id(made[:15]) == made


def test_it_makes_the_same_id_from_the_same_seed() -> None:
    assert salesforce_id("04l", rng=random.Random(7)) == salesforce_id("04l", rng=random.Random(7))


def test_it_makes_distinct_ids_by_default() -> None:
    assert len({salesforce_id("04l") for _ in range(1000)}) == 1000


def test_it_rejects_a_prefix_that_is_not_3_alphanumerics() -> None:
    with pytest.raises(ValueError):
        salesforce_id("04")


def test_it_starts_with_the_utf8_xml_declaration() -> None:
    assert build({"Id": CASE_ID}).startswith(b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope ')


def test_it_writes_the_header_children_in_the_outbound_namespace_in_wsdl_order() -> None:
    children = [child.tag for child in notifications_of(build({"Id": CASE_ID}, {"Id": CASE_ID}))]

    assert children == [
        f"{OUT}OrganizationId",
        f"{OUT}ActionId",
        f"{OUT}SessionId",
        f"{OUT}EnterpriseUrl",
        f"{OUT}PartnerUrl",
        f"{OUT}Notification",
        f"{OUT}Notification",
    ]


def test_it_sends_the_organization_and_action_ids() -> None:
    element = notifications_of(build({"Id": CASE_ID}))

    assert (element.findtext(f"{OUT}OrganizationId"), element.findtext(f"{OUT}ActionId")) == (ORG, ACTION)


def test_it_defaults_the_urls_to_the_orgs_soap_endpoints() -> None:
    element = notifications_of(build({"Id": CASE_ID}))

    assert element.findtext(f"{OUT}EnterpriseUrl", "").endswith("/services/Soap/c/62.0/00D000000000001")
    assert element.findtext(f"{OUT}PartnerUrl", "").endswith("/services/Soap/u/62.0/00D000000000001")


def test_it_marks_an_absent_session_id_nil() -> None:
    session = notifications_of(build({"Id": CASE_ID})).find(f"{OUT}SessionId")

    assert session is not None
    assert (session.get(f"{XSI}nil"), session.text) == ("true", None)


def test_it_sends_the_session_id_when_given() -> None:
    element = notifications_of(build({"Id": CASE_ID}, session_id="00D!AQ0AQ.token"))

    assert element.findtext(f"{OUT}SessionId") == "00D!AQ0AQ.token"


def test_it_keeps_each_notification_id_with_its_record_in_order() -> None:
    element = notifications_of(build({"Id": "500000000000001AAA"}, {"Id": "500000000000002AAA"}))

    pairs = [(n.findtext(f"{OUT}Id"), n.findtext(f"{OUT}sObject/{SF}Id")) for n in element]

    assert pairs[-2:] == [
        ("04l000000000001AAA", "500000000000001AAA"),
        ("04l000000000002AAA", "500000000000002AAA"),
    ]


def test_it_declares_the_sf_prefix_on_each_sobject_not_on_the_envelope() -> None:
    payload = build({"Id": CASE_ID}, {"Id": CASE_ID}).decode()
    envelope_tag = payload[payload.index("<soapenv:Envelope") :].split(">", 1)[0]

    assert "urn:sobject.enterprise.soap.sforce.com" not in envelope_tag
    assert payload.count('<sObject xsi:type="sf:Case" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">') == 2


def test_it_types_the_sobject_with_a_qname_that_resolves_to_the_object() -> None:
    sobject = sobjects_of(build({"Id": CASE_ID}, sobject_type="Contact"))[0]

    assert sobject.tag == f"{OUT}sObject"
    assert sobject.get(f"{XSI}type") == "sf:Contact"
    assert all(field.tag.startswith(SF) for field in sobject)


def test_it_uses_another_prefix_when_asked() -> None:
    payload = build({"Id": CASE_ID, "Subject": "Hi"}, sobject_prefix="ns1")

    assert b'xsi:type="ns1:Case" xmlns:ns1="urn:sobject.enterprise.soap.sforce.com"' in payload
    assert sobjects_of(payload)[0].findtext(f"{SF}Subject") == "Hi"


def test_it_omits_fields_whose_value_is_none() -> None:
    payload = build({"Id": CASE_ID, "ClosedDate": None, "Status": "New"})

    assert [field.tag for field in sobjects_of(payload)[0]] == [f"{SF}Id", f"{SF}Status"]
    assert b"ClosedDate" not in payload


def test_it_keeps_an_empty_string_as_an_empty_element() -> None:
    field = sobjects_of(build({"Id": CASE_ID, "Subject": ""}))[0].find(f"{SF}Subject")

    assert field is not None
    assert field.text is None


def test_it_puts_id_first_then_the_fields_alphabetically() -> None:
    fields = {"Subject": "s", "AccountId": "a", "Store__c": "x", "Id": CASE_ID, "CaseNumber": "1"}

    tags = [field.tag for field in sobjects_of(build(fields))[0]]

    assert tags == [f"{SF}{name}" for name in ("Id", "AccountId", "CaseNumber", "Store__c", "Subject")]


def test_it_round_trips_markup_ampersands_and_line_breaks() -> None:
    text = 'Refund <b>now</b> & "quickly" > later\r\nsecond line ]]>'

    assert sobjects_of(build({"Id": CASE_ID, "Subject": text}))[0].findtext(f"{SF}Subject") == text


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\ufffe", "\udcff"])
def test_it_refuses_text_xml_cannot_carry(char: str) -> None:
    with pytest.raises(ValueError, match=f"^Subject holds U\\+{ord(char):04X}, which XML cannot carry"):
        build({"Id": CASE_ID, "Subject": f"a{char}b"})


def test_it_refuses_a_session_id_xml_cannot_carry() -> None:
    with pytest.raises(ValueError, match="^SessionId holds U\\+0007"):
        build({"Id": CASE_ID}, session_id="00D!\x07")


def test_it_encodes_non_ascii_text_as_utf8() -> None:
    payload = build({"Id": CASE_ID, "Subject": "Crème brûlée — 東京 🎉"})

    assert "Crème brûlée — 東京 🎉".encode() in payload
    assert sobjects_of(payload)[0].findtext(f"{SF}Subject") == "Crème brûlée — 東京 🎉"


@pytest.mark.parametrize(("sobject_type", "prefix"), [("Contact", "003"), ("Lead", "00Q"), ("Survey__c", "a00")])
def test_it_generates_a_record_id_with_the_objects_prefix_when_absent(sobject_type: str, prefix: str) -> None:
    record_id = sobjects_of(build({"Subject": "x"}, sobject_type=sobject_type))[0].findtext(f"{SF}Id", "")

    assert record_id[:3] == prefix
    assert case_safe_id(record_id[:15]) == record_id


def test_it_knows_the_standard_objects_key_prefixes() -> None:
    assert KEY_PREFIXES == {"Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q", "Case": "500"}


@pytest.mark.parametrize("name", ["Sub ject", "Subject><x", "1Field", ""])
def test_it_rejects_a_field_name_that_is_not_an_api_name(name: str) -> None:
    with pytest.raises(ValueError):
        build({"Id": CASE_ID, name: "x"})


def test_it_keeps_managed_package_field_names() -> None:
    sobject = sobjects_of(build({"Id": CASE_ID, "npe01__Preferred_Email__c": "a@b.c"}))[0]

    assert sobject.findtext(f"{SF}npe01__Preferred_Email__c") == "a@b.c"


def test_it_nests_the_components_of_a_compound_field_or_related_record_as_the_parser_flattens_them() -> None:

    fields = {
        "Id": CASE_ID,
        "MailingAddress.city": "Paris",
        "MailingAddress.country": "FR",
        "Account.Owner.Email": "o@x.y",
    }
    sobject = sobjects_of(build(fields))[0]

    assert sobject.findtext(f"{SF}MailingAddress/{SF}city") == "Paris"
    assert sobject.findtext(f"{SF}Account/{SF}Owner/{SF}Email") == "o@x.y"
    assert parse_outbound_message(build(fields)).notifications[0].fields == fields


def test_it_leaves_out_a_compound_field_whose_components_are_all_null() -> None:
    assert b"MailingAddress" not in build({"Id": CASE_ID, "MailingAddress.city": None})


def test_it_refuses_a_name_that_is_both_a_field_and_a_compound_field() -> None:
    with pytest.raises(ValueError, match="Account cannot be both a field and"):
        build({"Id": CASE_ID, "Account": "Acme", "Account.Name": "Acme"})


@pytest.mark.parametrize("name", ["MailingAddress.", ".city", "MailingAddress..city", "Mailing Address.city"])
def test_it_rejects_a_dotted_name_whose_parts_are_not_api_names(name: str) -> None:
    with pytest.raises(ValueError):
        build({"Id": CASE_ID, name: "x"})
