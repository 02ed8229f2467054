import gc
from pathlib import Path

import pytest

from workflows.salesforce import parse as parse_module
from workflows.salesforce.parse import (
    ForbiddenXml,
    MalformedMessage,
    OutboundMessage,
    organization_key,
    parse_outbound_message,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "salesforce"
SESSION_TOKEN = (
    "00D5g000004bLYv!AQ0AQHc7xZ3yRk.Vq2mE_8tFh1LpWnB4sGdKj9uXoIaTz6cYrPe5NwM0lSvUiDbA3fQgHx7JyK2Rt.ZpLm1OaW4sEdCv8nBu"
)
HEADER = """
   <OrganizationId>00D5g000004bLYvEAM</OrganizationId>
   <ActionId>04k5g000000L0BzAAK</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/58.0/00D5g000004bLYv</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/58.0/00D5g000004bLYv</PartnerUrl>"""


def load(name: str) -> OutboundMessage:
    return parse_outbound_message((FIXTURES / name).read_bytes())


def envelope(content: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>{content}</soapenv:Body>
</soapenv:Envelope>""".encode()


def notification(*, id: str = "04l5g00000KxQ2aAAF", fields: str = "", type: str = "sf:Case") -> str:
    return f"""
   <Notification>
    <Id>{id}</Id>
    <sObject xsi:type="{type}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>5005g00000abcDEAAY</sf:Id>{fields}
    </sObject>
   </Notification>"""


def message(*notifications: str, header: str = HEADER) -> bytes:
    content = "".join(notifications)
    return envelope(f'<notifications xmlns="http://soap.sforce.com/2005/09/outbound">{header}{content}</notifications>')


def reason_for(body: bytes) -> str:
    with pytest.raises(MalformedMessage) as raised:
        parse_outbound_message(body)
    return raised.value.reason


def test_it_reads_the_organization_id():
    assert load("case_single.xml").organization_id == "00D5g000004bLYvEAM"


def test_it_reads_the_action_id():
    assert load("case_single.xml").action_id == "04k5g000000L0BzAAK"


def test_it_reads_the_enterprise_and_partner_urls():
    parsed = load("case_single.xml")

    assert (parsed.enterprise_url, parsed.partner_url) == (
        "https://acme.my.salesforce.com/services/Soap/c/58.0/00D5g000004bLYv",
        "https://acme.my.salesforce.com/services/Soap/u/58.0/00D5g000004bLYv",
    )


def test_it_reads_the_notification_id():
    assert [n.id for n in load("case_single.xml").notifications] == ["04l5g00000KxQ2aAAF"]


def test_it_takes_the_object_from_the_xsi_type():
    assert load("case_single.xml").notifications[0].sobject_type == "Case"


def test_it_reads_every_field_including_the_record_id():
    assert load("case_single.xml").notifications[0].fields == {
        "Id": "5005g00000abcDEAAY",
        "AccountId": "0015g00000XyZ12AAB",
        "CaseNumber": "00001026",
        "ContactEmail": "jane.doe@example.com",
        "ContactId": "0035g00000QrStUAAZ",
        "ContactMobile": "+1 (415) 555-0132",
        "CreatedDate": "2024-03-12T09:41:07.000Z",
        "Customer_First_Name__c": "Jane",
        "Customer_Last_Name__c": "Doe",
        "IsClosed": "true",
        "LastModifiedDate": "2024-03-14T16:27:19.000Z",
        "Origin": "Web",
        "Priority": "Medium",
        "Satisfaction_Score__c": "4.0",
        "Status": "Closed",
        "Store__c": "Downtown",
        "Subject": "Order arrived damaged",
    }


def test_it_does_not_keep_the_session_id():
    assert SESSION_TOKEN not in repr(load("case_session_id.xml"))


def test_it_accepts_a_body_starting_with_a_byte_order_mark():
    assert (FIXTURES / "case_bom.xml").read_bytes().startswith(b"\xef\xbb\xbf")
    assert load("case_bom.xml") == load("case_single.xml")


def test_it_resolves_a_type_prefix_declared_only_on_the_sobject():
    assert load("case_other_prefix.xml").notifications[0].sobject_type == "Case"


def test_it_reads_fields_under_any_prefix():
    assert load("case_other_prefix.xml").notifications[0].fields == {"Id": "5005g00000abcDFAAY", "Status": "New"}


def test_it_takes_the_local_part_of_the_type_whatever_its_prefix():
    body = message(notification(type="obj:Case"))

    assert parse_outbound_message(body).notifications[0].sobject_type == "Case"


def test_it_reads_nil_true_as_none():
    assert load("lead_nil_fields.xml").notifications[0].fields["FirstName"] is None


def test_it_reads_nil_1_as_none():
    assert load("lead_nil_fields.xml").notifications[0].fields["MobilePhone"] is None


def test_it_reads_fields_to_null_as_none_over_a_sent_value():
    assert load("lead_nil_fields.xml").notifications[0].fields["Phone"] is None


def test_it_does_not_report_fields_to_null_as_a_field():
    assert "fieldsToNull" not in load("lead_nil_fields.xml").notifications[0].fields


def test_it_reads_an_empty_field_as_empty_text():
    body = message(notification(fields="<sf:Subject/>"))

    assert parse_outbound_message(body).notifications[0].fields["Subject"] == ""


def test_it_reads_a_custom_object_type():
    assert load("custom_object_namespaced_fields.xml").notifications[0].sobject_type == "Feedback__c"


def test_it_keeps_managed_package_namespaces_in_field_names():
    fields = load("custom_object_namespaced_fields.xml").notifications[0].fields

    assert fields["npe01__Preferred_Email__c"] == "Personal"


def test_it_keeps_the_custom_field_suffix():
    assert load("custom_object_namespaced_fields.xml").notifications[0].fields["Store__c"] == "Downtown"


def test_it_flattens_related_records_into_dotted_names():
    account = "<sf:Name>Globex</sf:Name><sf:Owner><sf:Email>o@globex.example</sf:Email></sf:Owner>"
    body = message(notification(fields=f"<sf:Account>{account}</sf:Account>"))

    fields = parse_outbound_message(body).notifications[0].fields

    assert (fields["Account.Name"], fields["Account.Owner.Email"]) == ("Globex", "o@globex.example")


def test_it_unescapes_markup_in_text():
    assert load("case_escaped_markup.xml").notifications[0].fields["Subject"] == 'Tom & Jerry\'s "order"'


def test_it_keeps_text_exactly_including_whitespace_and_newlines():
    assert load("case_escaped_markup.xml").notifications[0].fields["Description"] == (
        "  Customer wrote: <b>never again</b> & left.\nSecond line  "
    )


def test_it_preserves_non_ascii_text():
    names = [(n.fields["FirstName"], n.fields["LastName"]) for n in load("contact_non_ascii.xml").notifications]

    assert names == [("Zoë", "山田"), ("Łukasz", "Żółć")]


def test_it_keeps_notifications_in_document_order():
    assert [n.id for n in load("contact_non_ascii.xml").notifications] == ["04l5g00000KxT1fAAF", "04l5g00000KxT1gAAF"]


def test_it_reads_a_full_batch_of_100_notifications():
    body = message(*(notification(id=f"04l5g00000Kx{i:03d}AAF") for i in range(100)))

    assert len(parse_outbound_message(body).notifications) == 100


def test_it_leaves_the_100_notification_limit_to_the_caller():
    body = message(*(notification(id=f"04l5g00000Kx{i:03d}AAF") for i in range(101)))

    assert len(parse_outbound_message(body).notifications) == 101


def test_it_refuses_the_billion_laughs_without_expanding_it():
    with pytest.raises(ForbiddenXml):
        parse_outbound_message((FIXTURES / "billion_laughs.xml").read_bytes())


def test_it_refuses_external_entities():
    with pytest.raises(ForbiddenXml):
        parse_outbound_message((FIXTURES / "external_entity.xml").read_bytes())


def test_it_says_dtds_and_entities_are_not_accepted():
    assert "DTD or entity declarations" in reason_for((FIXTURES / "billion_laughs.xml").read_bytes())


def test_it_treats_forbidden_xml_as_a_malformed_message():
    assert issubclass(ForbiddenXml, MalformedMessage)


def test_it_refuses_xml_that_is_not_well_formed():
    assert reason_for(b"<soapenv:Envelope><unclosed>").startswith("The body is not well-formed XML: ")


def test_it_refuses_an_empty_body():
    assert reason_for(b"").startswith("The request has no body")


def test_it_refuses_a_soap_12_envelope():
    body = b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>'

    assert reason_for(body) == (
        "The body is not a SOAP 1.1 envelope: its root element is Envelope in namespace "
        "http://www.w3.org/2003/05/soap-envelope, "
        "expected Envelope in namespace http://schemas.xmlsoap.org/soap/envelope/."
    )


def test_it_refuses_an_envelope_without_body():
    body = b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"/>'

    assert reason_for(body) == "The SOAP envelope has no Body element."


def test_it_refuses_notifications_outside_the_outbound_namespace():
    body = envelope(f"<notifications>{HEADER}{notification()}</notifications>")

    assert reason_for(body) == (
        "The SOAP body has no notifications element in namespace http://soap.sforce.com/2005/09/outbound."
    )


def test_it_requires_the_organization_id():
    header = HEADER.replace("<OrganizationId>00D5g000004bLYvEAM</OrganizationId>", "")

    assert reason_for(message(notification(), header=header)) == "The message has no OrganizationId."


def test_it_requires_a_non_empty_action_id():
    header = HEADER.replace("<ActionId>04k5g000000L0BzAAK</ActionId>", "<ActionId></ActionId>")

    assert reason_for(message(notification(), header=header)) == "The message has no ActionId."


def test_it_requires_at_least_one_notification():
    assert reason_for(message()) == "The message has no Notification."


def test_it_names_the_notification_without_id():
    body = message(notification(), notification(), notification(id=""))

    assert reason_for(body) == "Notification 3 has no Id."


def test_it_requires_an_sobject_in_each_notification():
    body = message("<Notification><Id>04l5g00000KxQ2aAAF</Id></Notification>")

    assert reason_for(body) == "Notification 1 has no sObject."


def test_it_leaves_the_type_to_the_receiver_when_xsi_type_is_absent():
    body = message(notification().replace(' xsi:type="sf:Case"', ""))

    assert parse_outbound_message(body).notifications[0].sobject_type == ""


def test_it_compares_15_and_18_character_organization_ids_equal():
    assert organization_key("00D5g000004bLYvEAM") == organization_key("00D5g000004bLYv")


def test_it_tells_different_organizations_apart():
    assert organization_key("00D5g000004bLYvEAM") != organization_key("00D5g000004bLYwEAM")


@pytest.mark.parametrize("written", ["00D5G000004BLYVEAM", "00d5g000004blyveam", "00D5g000004bLYvEAM"])
def test_it_reads_an_18_character_organization_id_in_any_case_as_its_organization(written):
    assert organization_key(written) == "00D5g000004bLYv"


def test_it_tells_apart_15_character_organization_ids_that_differ_only_in_case():
    assert organization_key("00D5g000004blyv") != organization_key("00D5g000004bLYv")


def test_it_keeps_the_first_15_as_written_when_the_suffix_is_not_case_safe():
    assert organization_key("00D5g000004bLYv999") == "00D5g000004bLYv"


@pytest.mark.parametrize("length", [17, 19, 36])
def test_it_refuses_a_notification_id_that_is_not_15_or_18_characters(length):
    body = message(notification(id="04l5g00000KxQ2aAAF0123456789ABCDEFGHIJ"[:length]))

    assert reason_for(body).startswith("Notification 1's Id '04l5g00000KxQ2aAA")
    assert reason_for(body).endswith(f"is not a Salesforce id (15 or 18 letters and digits, {length} characters here).")


def test_it_refuses_an_organization_id_longer_than_18_characters():
    header = HEADER.replace("00D5g000004bLYvEAM", "00D5g000004bLYvEAMXYZ")

    assert reason_for(message(notification(), header=header)).startswith(
        "The message's OrganizationId '00D5g000004bLYvEAMXYZ' is not a Salesforce id"
    )


def test_it_refuses_an_action_id_with_characters_other_than_letters_and_digits():
    header = HEADER.replace("04k5g000000L0BzAAK", "04k5g000000L0Bz-AK")

    assert "ActionId '04k5g000000L0Bz-AK' is not a Salesforce id" in reason_for(message(notification(), header=header))


def test_it_reads_an_18_character_organization_id_written_in_lowercase():
    header = HEADER.replace("00D5g000004bLYvEAM", "00d5g000004blyveam")

    assert parse_outbound_message(message(notification(), header=header)).organization_id == "00d5g000004blyveam"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (
            HEADER.replace("</OrganizationId>", "</OrganizationId><OrganizationId>00D5g000004bLYwEAM</OrganizationId>"),
            "The message has 2 OrganizationId elements: Salesforce sends one.",
        ),
        (
            HEADER.replace("</ActionId>", "</ActionId><ActionId>04k5g000000L0BzAAK</ActionId>"),
            "The message has 2 ActionId elements: Salesforce sends one.",
        ),
    ],
)
def test_it_refuses_a_message_repeating_an_element_it_holds_once(header, reason):
    assert reason_for(message(notification(), header=header)) == reason


def test_it_refuses_a_notification_with_two_ids():
    body = message(notification().replace("</Id>", "</Id><Id>04l5g00000KxQ2bAAF</Id>", 1))

    assert reason_for(body) == "Notification 1 has 2 Id elements: Salesforce sends one."


def test_it_refuses_a_notification_with_two_sobjects():
    second = '<sObject xsi:type="sf:Case" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"></sObject>'
    body = message(notification().replace("</sObject>", "</sObject>" + second))

    assert reason_for(body) == "Notification 1 has 2 sObject elements: Salesforce sends one."


def test_it_refuses_a_field_sent_twice():
    body = message(notification(fields="<sf:Subject>A</sf:Subject><sf:Subject>B</sf:Subject>"))

    assert reason_for(body) == "Notification 1's sObject holds the field Subject twice: Salesforce sends each once."


def test_it_refuses_a_field_holding_text_beside_elements():
    body = message(notification(fields="<sf:Subject>Broken <sf:b>printer</sf:b> again</sf:Subject>"))

    assert reason_for(body).startswith("Notification 1's field Subject holds both text and elements")


def test_it_reads_a_related_record_laid_out_on_several_lines():
    body = message(notification(fields="<sf:Account>\n  <sf:Name>Acme</sf:Name>\n</sf:Account>"))

    assert parse_outbound_message(body).notifications[0].fields["Account.Name"] == "Acme"


def test_it_accepts_15_character_ids():
    body = message(notification(id="04l5g00000KxQ2a"), header=HEADER.replace("00D5g000004bLYvEAM", "00D5g000004bLYv"))

    parsed = parse_outbound_message(body)
    assert (parsed.organization_id, parsed.notifications[0].id) == ("00D5g000004bLYv", "04l5g00000KxQ2a")


SUBJECT = "<sf:Subject>山田 太郎</sf:Subject>"


def in_encoding(encoding: str, *, declared: str, bom: bool = False) -> bytes:
    text = message(notification(fields=SUBJECT)).decode().replace('encoding="UTF-8"', f'encoding="{declared}"')
    return ("\ufeff" if bom else "").encode(encoding) + text.encode(encoding)


@pytest.mark.parametrize(
    "encoding, declared, bom",
    [
        ("utf-16-le", "UTF-16", True),
        ("utf-16-be", "UTF-16", True),
        ("utf-16-le", "UTF-16", False),
        ("utf-16-be", "UTF-16BE", False),
        ("utf-32-le", "UTF-32", True),
        ("utf-8", "UTF-8", True),
        ("shift_jis", "Shift_JIS", False),
        ("gb18030", "GB18030", False),
        ("euc-jp", "EUC-JP", False),
    ],
)
def test_it_reads_a_message_in_any_encoding_it_declares(encoding, declared, bom):
    parsed = parse_outbound_message(in_encoding(encoding, declared=declared, bom=bom))

    assert parsed.notifications[0].fields["Subject"] == "山田 太郎"


def test_it_reads_a_single_byte_encoding():
    body = message(notification(fields="<sf:Subject>Zoë Ça</sf:Subject>")).decode()
    body = body.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("latin-1")

    assert parse_outbound_message(body).notifications[0].fields["Subject"] == "Zoë Ça"


def test_it_refuses_an_encoding_it_does_not_know():
    body = message(notification()).replace(b'encoding="UTF-8"', b'encoding="x-klingon"')

    assert reason_for(body) == "The XML declaration names the encoding 'x-klingon', which is not known."


def test_it_refuses_bytes_that_are_not_in_the_declared_encoding():
    body = message(notification()).replace(b'encoding="UTF-8"', b'encoding="UTF-16"')

    assert reason_for(body).startswith("The body is not valid utf-16")


def test_it_refuses_a_gzip_body_saying_so():
    import gzip

    assert reason_for(gzip.compress(message(notification()))) == (
        "The body is gzip-compressed: send the SOAP envelope uncompressed."
    )


def test_it_refuses_binary_junk_with_nul_bytes():
    assert reason_for(b"\x00\x01\x02junk").startswith("The body is not well-formed XML: ")


def test_it_refuses_an_sobject_nested_5000_levels_deep():
    deep = "<sf:X>" * 5000 + "v" + "</sf:X>" * 5000

    assert reason_for(message(notification(fields=deep))).startswith(
        "Notification 1's sObject nests elements more than 10 levels deep"
    )


def test_it_flattens_related_records_up_to_the_depth_limit():
    nested = "<sf:A>" * 9 + "v" + "</sf:A>" * 9

    fields = parse_outbound_message(message(notification(fields=nested))).notifications[0].fields
    assert fields[".".join(["A"] * 9)] == "v"


@pytest.fixture
def collector_seen_while_parsing(monkeypatch):
    """Whether the cyclic garbage collector was on, each time a notification was extracted."""
    seen = []
    extract = parse_module._notification

    def recording(item, number):
        seen.append(gc.isenabled())
        return extract(item, number)

    monkeypatch.setattr(parse_module, "_notification", recording)
    return seen


def test_the_garbage_collector_is_paused_while_a_message_is_parsed(collector_seen_while_parsing):
    assert gc.isenabled()

    parse_outbound_message(message(notification()))

    assert collector_seen_while_parsing == [False]
    assert gc.isenabled()


def test_the_garbage_collector_runs_again_after_a_message_is_refused(collector_seen_while_parsing):
    with pytest.raises(MalformedMessage):
        parse_outbound_message(message(notification(id="not-an-id")))

    assert collector_seen_while_parsing == [False]
    assert gc.isenabled()


def test_a_garbage_collector_turned_off_stays_off(collector_seen_while_parsing):
    gc.disable()
    try:
        parse_outbound_message(message(notification()))

        assert collector_seen_while_parsing == [False]
        assert not gc.isenabled()
    finally:
        gc.enable()
