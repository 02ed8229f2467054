"""Contacts of a directory and of its mailing lists.

GET|POST /directories/{id}/contacts, GET|PUT|DELETE /directories/{id}/contacts/{contactId},
POST /directories/{id}/contacts/search, GET|POST /directories/{id}/mailinglists/{mlId}/contacts.
A POST upserts by the directory's dedupe rules (as workflow tasks do) and says which it did.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.base import ApiView, InputSerializer, get_or_404, utc_datetime, validated
from api.envelope import ApiError
from api.idempotency import idempotent
from api.pagination import Page, PageQuerySerializer, page_of
from api.resources.directories import directory_or_404, mailing_list_or_404
from directory.models import Contact, Directory, MailingList
from directory.selectors import contacts_search
from directory.services import ContactData, DuplicateContact, contact_delete, contact_save, contact_update
from directory.values import InvalidValue, contact_email, contact_phone

# API field -> Contact field.
PROFILE_FIELDS = {
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "phone": "phone",
    "extRef": "external_data_reference",
    "language": "language",
}


def _max_length(name: str) -> int:
    return Contact._meta.get_field(name).max_length


class ContactSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    firstName = serializers.CharField(source="first_name")
    lastName = serializers.CharField(source="last_name")
    email = serializers.CharField()
    phone = serializers.CharField()
    extRef = serializers.CharField(source="external_data_reference")
    language = serializers.CharField()
    unsubscribed = serializers.BooleanField()
    embeddedData = serializers.DictField(source="embedded_data", child=serializers.JSONField())
    creationDate = utc_datetime(source="created_at")
    lastModified = utc_datetime(source="updated_at")


class MembershipSerializer(serializers.Serializer):
    mailingListId = serializers.CharField(source="mailing_list.public_id")
    name = serializers.CharField(source="mailing_list.name")
    unsubscribed = serializers.BooleanField()


class ContactDetailSerializer(ContactSerializer):
    mailingListMembership = MembershipSerializer(many=True, source="memberships.all")


class ContactInputSerializer(InputSerializer):
    """A contact's fields as a POST or PUT sends them; each is optional, "" clears it in a PUT."""

    output_only = ("id", "creationDate", "lastModified", "mailingListMembership")  # a GET's answer PUT back

    firstName = serializers.CharField(required=False, allow_blank=True, max_length=_max_length("first_name"))
    lastName = serializers.CharField(required=False, allow_blank=True, max_length=_max_length("last_name"))
    email = serializers.CharField(required=False, allow_blank=True, max_length=_max_length("email"))
    phone = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="Any way people write it; stored in E.164 (numbers without a country code are read "
        "in DEFAULT_PHONE_REGION).",
    )
    extRef = serializers.CharField(required=False, allow_blank=True, max_length=_max_length("external_data_reference"))
    language = serializers.CharField(required=False, allow_blank=True, max_length=_max_length("language"))
    unsubscribed = serializers.BooleanField(required=False, help_text="Opted out of every mailing list.")
    embeddedData = serializers.DictField(
        required=False,
        child=serializers.CharField(allow_blank=True, max_length=10_000),
        help_text="Name -> value; names are kept as written (a survey reads them by exact name).",
    )

    def validate_email(self, value: str) -> str:
        try:
            return contact_email(value)
        except InvalidValue as error:
            raise serializers.ValidationError(str(error)) from None

    def validate_phone(self, value: str) -> str:
        try:
            return contact_phone(value)
        except InvalidValue as error:
            raise serializers.ValidationError(str(error)) from None

    def validate_embeddedData(self, value: dict) -> dict:
        if any(not name.strip() for name in value):
            raise serializers.ValidationError("An embedded-data field needs a name.")
        return value

    def profile(self) -> dict[str, str]:
        return {
            field: self.validated_data[name] for name, field in PROFILE_FIELDS.items() if name in self.validated_data
        }


class ContactCreatedSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The contact's id.")
    action = serializers.ChoiceField(
        choices=["created", "updated"], help_text="created, or updated: the dedupe rules matched an existing contact."
    )


SEARCH_FIELDS = {"email": "email", "extRef": "external_data_reference", "phone": "phone"}
SEARCH_NORMALIZERS = {"email": contact_email, "phone": contact_phone}


class SearchFilterSerializer(InputSerializer):
    filterType = serializers.ChoiceField(choices=["email", "extRef", "phone"])
    comparison = serializers.ChoiceField(choices=["eq"], default="eq", help_text="Exact (email: case-insensitive).")
    value = serializers.CharField(
        max_length=255, help_text="An email or phone is read as a contact's is written (a phone in any format)."
    )

    def validate(self, data: dict) -> dict:
        # Contacts hold emails and phones normalized (a phone in E.164): a value written as a POST
        # may write it must find the contact that POST made. One that cannot be read is compared as sent.
        normalize = SEARCH_NORMALIZERS.get(data["filterType"])
        if normalize is not None:
            try:
                data["value"] = normalize(data["value"]) or data["value"]
            except InvalidValue:
                pass
        return data


class SearchSerializer(InputSerializer):
    # A ListField, not many=True: the schema then says minItems and maxItems as well.
    filters = serializers.ListField(child=SearchFilterSerializer(), min_length=1, max_length=50)
    conjunction = serializers.ChoiceField(
        choices=["and", "or"], default="and", help_text="and: every filter matches; or: any does."
    )


def _contact(contact):
    return ContactSerializer(contact).data


def _contacts_page(request, contacts, *, list_name: str):
    page = Page(request, list_name=list_name)
    if page.after is not None:
        contacts = contacts.filter(id__gt=page.after)
    return page.result(list(contacts[: page.fetch_size]), key=lambda row: row.pk, serialize=_contact)


def _save(directory: Directory, serializer: ContactInputSerializer, mailing_list=None) -> tuple[Contact, bool]:
    data = serializer.validated_data
    return contact_save(
        directory=directory,
        data=ContactData(**serializer.profile(), embedded_data=data.get("embeddedData", {})),
        mailing_list=mailing_list,
        unsubscribe=bool(data.get("unsubscribed")),
    )


def _created_answer(contact: Contact, created: bool) -> Response:
    body = {"id": contact.public_id, "action": "created" if created else "updated"}
    return Response(body, status=201 if created else 200)


def contact_or_404(directory: Directory, contact_id: str) -> Contact:
    return get_or_404(
        Contact.objects.filter(directory=directory),
        f"No contact {contact_id} in {directory.public_id}.",
        public_id=contact_id,
    )


def _deleted_meanwhile(directory_id: str, contact_id: str) -> ApiError:
    """The 404 of a contact another call deleted between finding it and writing it."""
    return ApiError(f"No contact {contact_id} in {directory_id}: it was just deleted.", code="NOT_FOUND", status=404)


CONTACT_UPSERT = ("directory.view_directory", "directory.add_contact", "directory.change_contact")


class ContactListView(ApiView):
    required_permissions = {"GET": ("directory.view_directory", "directory.view_contact"), "POST": CONTACT_UPSERT}

    @extend_schema(operation_id="listContacts", parameters=[PageQuerySerializer], responses=page_of(ContactSerializer))
    def get(self, request, directory_id):
        directory = directory_or_404(directory_id)
        contacts = Contact.objects.filter(directory=directory).order_by("id")
        return Response(_contacts_page(request, contacts, list_name="contacts"))

    @extend_schema(
        operation_id="createContact",
        summary="Create a contact, or update the one the directory's dedupe rules match",
        request=ContactInputSerializer,
        responses={200: ContactCreatedSerializer, 201: ContactCreatedSerializer},
    )
    @idempotent
    def post(self, request, directory_id):
        directory = directory_or_404(directory_id)
        serializer = ContactInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _created_answer(*_save(directory, serializer))


class ContactDetailView(ApiView):
    required_permissions = {
        "GET": ("directory.view_directory", "directory.view_contact"),
        "PUT": ("directory.view_directory", "directory.change_contact"),
        "DELETE": ("directory.view_directory", "directory.delete_contact"),
    }

    @extend_schema(operation_id="getContact", responses=ContactDetailSerializer)
    def get(self, request, directory_id, contact_id):
        contact = contact_or_404(directory_or_404(directory_id), contact_id)
        return Response(ContactDetailSerializer(contact).data)

    @extend_schema(
        operation_id="updateContact",
        summary="Set the fields given; embeddedData names given replace their values, the others stay",
        request=ContactInputSerializer,
        responses=ContactDetailSerializer,
    )
    @idempotent
    def put(self, request, directory_id, contact_id):
        contact = contact_or_404(directory_or_404(directory_id), contact_id)
        serializer = ContactInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            contact = contact_update(
                contact=contact,
                fields=serializer.profile(),
                embedded_data=data.get("embeddedData"),
                unsubscribed=data.get("unsubscribed"),
            )
        except DuplicateContact as error:
            raise ApiError(str(error), code="DUPLICATE_CONTACT") from None
        except Contact.DoesNotExist:
            raise _deleted_meanwhile(directory_id, contact_id) from None
        return Response(ContactDetailSerializer(contact).data)

    @extend_schema(
        operation_id="deleteContact",
        summary="Delete the contact, erasing it everywhere it was copied (invitations, responses, task runs)",
        responses={200: None},
    )
    @idempotent
    def delete(self, request, directory_id, contact_id):
        try:
            contact_delete(contact=contact_or_404(directory_or_404(directory_id), contact_id))
        except Contact.DoesNotExist:
            raise _deleted_meanwhile(directory_id, contact_id) from None
        return Response(None)


class ContactSearchView(ApiView):
    required_permissions = {"POST": ("directory.view_directory", "directory.view_contact")}

    @extend_schema(
        operation_id="searchContacts",
        summary="Contacts matching filters on email, extRef or phone, combined with and/or",
        parameters=[PageQuerySerializer],
        request=SearchSerializer,
        responses=page_of(ContactSerializer),
    )
    def post(self, request, directory_id):
        directory = directory_or_404(directory_id)
        data = validated(SearchSerializer, request.data)
        filters = [(SEARCH_FIELDS[item["filterType"]], item["value"]) for item in data["filters"]]
        contacts = contacts_search(directory=directory, filters=filters, match_all=data["conjunction"] == "and")
        return Response(_contacts_page(request, contacts, list_name="contacts"))


class MailingListContactsView(ApiView):
    required_permissions = {
        "GET": ("directory.view_directory", "directory.view_mailinglist", "directory.view_contact"),
        "POST": (*CONTACT_UPSERT, "directory.view_mailinglist", "directory.add_membership"),
    }

    @extend_schema(
        operation_id="listMailingListContacts", parameters=[PageQuerySerializer], responses=page_of(ContactSerializer)
    )
    def get(self, request, directory_id, mailing_list_id):
        mailing_list = mailing_list_or_404(directory_or_404(directory_id), mailing_list_id)
        contacts = Contact.objects.filter(memberships__mailing_list=mailing_list).order_by("id")
        return Response(_contacts_page(request, contacts, list_name="listcontacts"))

    @extend_schema(
        operation_id="createMailingListContact",
        summary="Create or update (dedupe rules) a contact and add it to the mailing list",
        request=ContactInputSerializer,
        responses={200: ContactCreatedSerializer, 201: ContactCreatedSerializer},
    )
    @idempotent
    def post(self, request, directory_id, mailing_list_id):
        directory = directory_or_404(directory_id)
        mailing_list: MailingList = mailing_list_or_404(directory, mailing_list_id)
        serializer = ContactInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _created_answer(*_save(directory, serializer, mailing_list))
