"""POST /directories/{id}/transactions: append dated transactions to contacts, up to 1,000 per call.

The body is the reference's map of the caller's key -> {contactId, mailingListId, transactionDate,
data}; the answer says, per key, the transaction created or why it was not processed. One bad item
does not stop the others.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.base import ApiView, DateTimeField, InputSerializer
from api.envelope import ApiError, describe_field_errors, field_errors
from api.idempotency import idempotent
from api.resources.directories import directory_or_404
from directory.services import TransactionData, transactions_create

MAX_TRANSACTIONS = 1000


class TransactionInputSerializer(InputSerializer):
    contactId = serializers.CharField(max_length=32)
    mailingListId = serializers.CharField(max_length=32, required=False, allow_blank=True)
    transactionDate = DateTimeField(
        required=False, help_text="ISO 8601; without an offset, in the site's time zone. Default: now."
    )
    data = serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=10_000), required=False)


TRANSACTION_INPUT_SCHEMA = {
    "type": "object",
    "required": ["contactId"],
    "properties": {
        "contactId": {"type": "string"},
        "mailingListId": {"type": "string"},
        "transactionDate": {"type": "string", "format": "date-time"},
        "data": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,  # a field it does not define leaves the item unprocessed
}
REQUEST_SCHEMA = {
    "type": "object",
    "description": "Your key for each transaction -> the transaction.",
    "additionalProperties": TRANSACTION_INPUT_SCHEMA,
    "minProperties": 1,
    "maxProperties": MAX_TRANSACTIONS,
}


class CreatedTransactionSerializer(serializers.Serializer):
    id = serializers.CharField()


class UnprocessedTransactionSerializer(serializers.Serializer):
    errorMessage = serializers.CharField()


class TransactionsResultSerializer(serializers.Serializer):
    createdTransactions = serializers.DictField(child=CreatedTransactionSerializer())
    unprocessedTransactions = serializers.DictField(child=UnprocessedTransactionSerializer())


class TransactionBatchView(ApiView):
    required_permissions = {"POST": ("directory.view_directory", "directory.add_transaction")}

    @extend_schema(
        operation_id="createTransactions",
        summary=f"Append up to {MAX_TRANSACTIONS} transactions, each to its contact",
        request={"application/json": REQUEST_SCHEMA},
        responses=TransactionsResultSerializer,
    )
    @idempotent
    def post(self, request, directory_id):
        directory = directory_or_404(directory_id)
        body = request.data
        if not isinstance(body, dict) or not body:
            raise ApiError("Send an object of your key -> {contactId, mailingListId, transactionDate, data}.")
        if len(body) > MAX_TRANSACTIONS:
            raise ApiError(f"At most {MAX_TRANSACTIONS} transactions per call (this one has {len(body)}): split it.")
        items, unprocessed = {}, {}
        for key, item in body.items():
            serializer = TransactionInputSerializer(data=item)
            if not serializer.is_valid():
                unprocessed[key] = describe_field_errors(field_errors(serializer.errors))
                continue
            data = serializer.validated_data
            items[key] = TransactionData(
                contact_id=data["contactId"],
                mailing_list_id=data.get("mailingListId", ""),
                transaction_date=data.get("transactionDate"),
                data=data.get("data", {}),
            )
        created, not_created = transactions_create(directory=directory, items=items)
        unprocessed.update(not_created)
        return Response(
            {
                "createdTransactions": {key: {"id": transaction.public_id} for key, transaction in created.items()},
                "unprocessedTransactions": {key: {"errorMessage": message} for key, message in unprocessed.items()},
            }
        )
