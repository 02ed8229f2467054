"""Directories and their mailing lists: GET /directories, GET|POST /directories/{id}/mailinglists."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.base import ApiView, InputSerializer, get_or_404, utc_datetime, validated
from api.envelope import ApiError
from api.idempotency import idempotent
from api.pagination import Page, PageQuerySerializer, page_of
from directory.models import Directory, MailingList
from directory.selectors import directory_dedupe_keys
from directory.services import DirectoryError, mailing_list_create

# Our dedupe keys, in the reference's camelCase.
DEDUPE_CRITERIA = {
    "email": "email",
    "external_data_reference": "externalDataReference",
    "phone": "phone",
    "name_and_email": "nameAndEmail",
}


class DirectorySerializer(serializers.Serializer):
    directoryId = serializers.CharField(source="public_id")
    name = serializers.CharField()
    isDefault = serializers.BooleanField(source="is_default")
    deduplicationCriteria = serializers.SerializerMethodField(
        help_text="The dedupe rules, tried in this order (first match wins): email (case-insensitive), "
        "externalDataReference, phone, nameAndEmail. A new contact matching one updates that contact."
    )
    creationDate = utc_datetime(source="created_at")

    def get_deduplicationCriteria(self, directory) -> list[str]:
        return [DEDUPE_CRITERIA[key] for key in directory_dedupe_keys(directory)]


class MailingListSerializer(serializers.Serializer):
    mailingListId = serializers.CharField(source="public_id")
    name = serializers.CharField()
    creationDate = utc_datetime(source="created_at")


class MailingListCreateSerializer(InputSerializer):
    name = serializers.CharField(max_length=200)


def directory_or_404(directory_id: str) -> Directory:
    return get_or_404(
        Directory.objects.prefetch_related("dedupe_rules"),
        f"No directory {directory_id}: list them with GET /directories.",
        public_id=directory_id,
    )


def mailing_list_or_404(directory: Directory, mailing_list_id: str) -> MailingList:
    return get_or_404(
        MailingList.objects.filter(directory=directory),
        f"No mailing list {mailing_list_id} in {directory.public_id}: list them with "
        f"GET /directories/{directory.public_id}/mailinglists.",
        public_id=mailing_list_id,
    )


class DirectoryListView(ApiView):
    required_permissions = {"GET": ("directory.view_directory",)}

    @extend_schema(
        operation_id="listDirectories", parameters=[PageQuerySerializer], responses=page_of(DirectorySerializer)
    )
    def get(self, request):
        page = Page(request, list_name="directories")
        directories = Directory.objects.prefetch_related("dedupe_rules").order_by("id")
        if page.after is not None:
            directories = directories.filter(id__gt=page.after)
        rows = list(directories[: page.fetch_size])
        return Response(page.result(rows, key=lambda row: row.pk, serialize=lambda row: DirectorySerializer(row).data))


class MailingListListView(ApiView):
    required_permissions = {
        "GET": ("directory.view_directory", "directory.view_mailinglist"),
        "POST": ("directory.view_directory", "directory.add_mailinglist"),
    }

    @extend_schema(
        operation_id="listMailingLists", parameters=[PageQuerySerializer], responses=page_of(MailingListSerializer)
    )
    def get(self, request, directory_id):
        directory = directory_or_404(directory_id)
        page = Page(request, list_name="mailinglists")
        mailing_lists = MailingList.objects.filter(directory=directory).order_by("id")
        if page.after is not None:
            mailing_lists = mailing_lists.filter(id__gt=page.after)
        rows = list(mailing_lists[: page.fetch_size])
        return Response(
            page.result(rows, key=lambda row: row.pk, serialize=lambda row: MailingListSerializer(row).data)
        )

    @extend_schema(
        operation_id="createMailingList",
        request=MailingListCreateSerializer,
        responses={201: MailingListSerializer},
    )
    @idempotent
    def post(self, request, directory_id):
        directory = directory_or_404(directory_id)
        data = validated(MailingListCreateSerializer, request.data)
        try:
            mailing_list = mailing_list_create(directory=directory, name=data["name"])
        except DirectoryError as error:
            raise ApiError(str(error), code="MAILING_LIST_NOT_CREATED") from None
        return Response(MailingListSerializer(mailing_list).data, status=201)
