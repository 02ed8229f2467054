"""Read which object and fields an outbound message sends, from the WSDL Salesforce generates for it.

The WSDL lists exactly the fields selected on the outbound message, so a field missing from a
message means null rather than "not sent".
"""

from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException

from workflows.salesforce.encoding import UnreadableEncoding
from workflows.salesforce.parse import OUTBOUND_NS, NestedTooDeep, parse_xml_with_scopes, resolve_qname

XSD_NS = "http://www.w3.org/2001/XMLSchema"
# Salesforce's outbound-message WSDLs nest about ten levels (definitions/types/schema/complexType/
# complexContent/extension/sequence/element); far deeper is another kind of file.
MAX_DEPTH = 100


class InvalidWsdl(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class WsdlObject:
    object_name: str
    fields: dict[str, str]


def object_from_wsdl(data: bytes) -> WsdlObject:
    try:
        root, scopes = parse_xml_with_scopes(data, max_depth=MAX_DEPTH)
    except DefusedXmlException as exc:
        raise InvalidWsdl("The file contains a DTD or entity declarations, which are not accepted.") from exc
    except ParseError as exc:
        raise InvalidWsdl(f"The file is not well-formed XML: {exc}.") from exc
    except UnreadableEncoding as exc:
        raise InvalidWsdl(str(exc)) from None
    except NestedTooDeep as exc:
        raise InvalidWsdl(f"{exc} A Salesforce outbound-message WSDL nests about ten: is it the WSDL?") from None
    schema = _Schema(root, scopes)

    notifications = schema.elements.get((OUTBOUND_NS, "notifications"))
    if notifications is None:
        raise InvalidWsdl(f"This is not an outbound-message WSDL: no notifications element in namespace {OUTBOUND_NS}.")
    notification = _named_element(notifications, "Notification", owner="The notifications element")
    notification_type = schema.complex_type(notification)
    sobject = _named_element(notification_type, "sObject", owner="The Notification type")
    object_type = schema.complex_type(sobject)
    return WsdlObject(object_name=schema.type_of(sobject)[1], fields=schema.fields(object_type))


class _Schema:
    """Top-level XSD declarations of every schema in the WSDL, by (namespace, name)."""

    def __init__(self, root: Element, scopes: dict[Element, Mapping[str, str]]):
        self._scopes = scopes
        self.elements: dict[tuple[str, str], Element] = {}
        self.types: dict[tuple[str, str], Element] = {}
        for schema in root.iter(_xsd("schema")):
            namespace = schema.get("targetNamespace", "")
            for child in schema:
                if child.tag == _xsd("element"):
                    self.elements[namespace, child.get("name", "")] = child
                elif child.tag == _xsd("complexType"):
                    self.types[namespace, child.get("name", "")] = child

    def type_of(self, element: Element, attribute: str = "type") -> tuple[str, str]:
        """The (namespace, local name) an element's QName attribute refers to; untyped means anyType."""
        value = element.get(attribute)
        if value is None:
            return XSD_NS, "anyType"
        try:
            return resolve_qname(value, self._scopes[element])
        except KeyError as exc:
            raise InvalidWsdl(f"The type '{value}' uses the prefix {exc}, which is not declared.") from exc

    def complex_type(self, element: Element) -> Element:
        namespace, name = self.type_of(element)
        complex_type = self.types.get((namespace, name))
        if complex_type is None:
            raise InvalidWsdl(
                f"The element {element.get('name')} has type {name} (namespace {namespace}), "
                "which the WSDL does not define."
            )
        return complex_type

    def fields(self, complex_type: Element) -> dict[str, str]:
        """Field name -> XSD type of an sObject type, base types' fields first (they hold Id)."""
        chain = [complex_type]
        while (extension := chain[-1].find(f"{_xsd('complexContent')}/{_xsd('extension')}")) is not None:
            base = self.types.get(self.type_of(extension, "base"))
            if base is None:
                raise InvalidWsdl(f"The base type {extension.get('base')} is not defined in the WSDL.")
            if base in chain:
                raise InvalidWsdl(f"The type {base.get('name')} extends itself.")
            chain.append(base)
        fields = {}
        for type_ in reversed(chain):
            for element in type_.iterfind(f".//{_xsd('sequence')}/{_xsd('element')}"):
                name = element.get("name")
                # fieldsToNull is how a client asks to blank fields, not a field of the record.
                if name and name != "fieldsToNull":
                    fields[name] = self.type_of(element)[1]
        return fields


def _named_element(parent: Element, name: str, *, owner: str) -> Element:
    for element in parent.iter(_xsd("element")):
        if element.get("name") == name:
            return element
    raise InvalidWsdl(f"{owner} declares no {name} element.")


def _xsd(local: str) -> str:
    return f"{{{XSD_NS}}}{local}"
