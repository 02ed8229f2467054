import tracemalloc
from pathlib import Path

import pytest

from workflows.salesforce.wsdl import InvalidWsdl, object_from_wsdl

_HERE = Path(__file__).resolve()
_COPY = _HERE.parents[2] / "fixtures" / "salesforce" / "Case.wsdl"
# The copy keeps the suite self-contained; the shared spec is the source it was taken from.
CASE_WSDL = _COPY if _COPY.exists() else _HERE.parents[3].parent / "shared" / "spec" / "Case.wsdl"


def case_wsdl() -> str:
    return CASE_WSDL.read_text(encoding="utf-8")


def reason_for(data: bytes) -> str:
    with pytest.raises(InvalidWsdl) as raised:
        object_from_wsdl(data)
    return raised.value.reason


def test_it_reads_the_object_name():
    assert object_from_wsdl(CASE_WSDL.read_bytes()).object_name == "Case"


def test_it_reads_each_selected_field_with_its_xsd_type():
    assert object_from_wsdl(CASE_WSDL.read_bytes()).fields == {
        "Id": "ID",
        "AccountId": "ID",
        "CaseNumber": "string",
        "ClosedDate": "dateTime",
        "ContactEmail": "string",
        "ContactId": "ID",
        "ContactMobile": "string",
        "CreatedDate": "dateTime",
        "Customer_First_Name__c": "string",
        "Customer_Last_Name__c": "string",
        "IsClosed": "boolean",
        "LastModifiedDate": "dateTime",
        "Origin": "string",
        "Priority": "string",
        "Satisfaction_Score__c": "double",
        "Status": "string",
        "Store__c": "string",
        "Subject": "string",
    }


def test_it_includes_the_id_inherited_from_sobject():
    assert object_from_wsdl(CASE_WSDL.read_bytes()).fields["Id"] == "ID"


def test_it_leaves_out_fields_to_null():
    assert "fieldsToNull" not in object_from_wsdl(CASE_WSDL.read_bytes()).fields


def test_it_resolves_whatever_prefix_the_wsdl_uses():
    renamed = case_wsdl().replace("xmlns:ens=", "xmlns:obj=").replace('"ens:', '"obj:')

    assert object_from_wsdl(renamed.encode()).fields == object_from_wsdl(CASE_WSDL.read_bytes()).fields


def test_it_resolves_a_prefix_declared_on_the_element_itself():
    local = case_wsdl().replace(
        '<element name="sObject" type="ens:Case"/>',
        '<element name="sObject" type="o:Case" xmlns:o="urn:sobject.enterprise.soap.sforce.com"/>',
    )

    assert object_from_wsdl(local.encode()).object_name == "Case"


def test_it_refuses_an_undeclared_prefix():
    broken = case_wsdl().replace('type="ens:Case"', 'type="nope:Case"')

    assert reason_for(broken.encode()) == "The type 'nope:Case' uses the prefix 'nope', which is not declared."


def test_it_refuses_a_wsdl_without_notifications_element():
    other = case_wsdl().replace('<element name="notifications">', '<element name="somethingElse">')

    assert reason_for(other.encode()).startswith("This is not an outbound-message WSDL: no notifications element")


def test_it_refuses_an_sobject_type_the_wsdl_does_not_define():
    broken = case_wsdl().replace('<complexType name="Case">', '<complexType name="Lead">')

    assert reason_for(broken.encode()) == (
        "The element sObject has type Case (namespace urn:sobject.enterprise.soap.sforce.com), "
        "which the WSDL does not define."
    )


def test_it_refuses_a_type_that_extends_itself():
    looping = case_wsdl().replace('<extension base="ens:sObject">', '<extension base="ens:Case">')

    assert reason_for(looping.encode()) == "The type Case extends itself."


def test_it_refuses_xml_that_is_not_well_formed():
    assert reason_for(b"<definitions>").startswith("The file is not well-formed XML: ")


def test_it_refuses_a_dtd():
    data = b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><definitions>&x;</definitions>'

    assert reason_for(data) == "The file contains a DTD or entity declarations, which are not accepted."


@pytest.mark.parametrize("name", ["base64", "punycode"])
def test_it_refuses_a_file_declaring_a_codec_that_cannot_read_it(name):
    data = case_wsdl().replace('encoding="UTF-8"', f'encoding="{name}"', 1).encode()

    assert name in reason_for(data)


def test_it_refuses_a_file_nesting_elements_deeper_than_any_wsdl():
    data = b"<a>" * 101 + b"</a>" * 101

    assert reason_for(data).startswith("The file nests elements more than 100 levels deep.")


def test_it_reads_a_file_declaring_thousands_of_prefixes_in_memory_proportional_to_it():
    # Each child's declarations used to be merged into a copy of its parent's 20,000: 2 GB here.
    declarations = b" ".join(b'xmlns:p%d="urn:x"' % number for number in range(20_000))
    data = b"<a " + declarations + b">" + b'<b xmlns:q="urn:x"/>' * 5_000 + b"</a>"

    tracemalloc.start()
    try:
        reason = reason_for(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert reason.startswith("This is not an outbound-message WSDL")
    assert peak < 50 * 1024 * 1024
