import pytest

from directory.models import Transaction
from tests.api.conftest import error, result
from tests.factories import make_contact, make_directory

pytestmark = pytest.mark.django_db


def test_it_creates_transactions_per_key_and_says_which_were_not_processed(superuser_api):
    directory = make_directory()
    contact = make_contact(directory=directory, email="ada@example.com")
    mailing_list = directory.mailing_lists.create(name="Stores")
    stranger = make_contact(directory=make_directory(), email="grace@example.com")

    answer = result(
        superuser_api.post(
            f"directories/{directory.public_id}/transactions",
            {
                "visit-1": {
                    "contactId": contact.public_id,
                    "mailingListId": mailing_list.public_id,
                    "transactionDate": "2024-03-05T09:41:07Z",
                    "data": {"Store": "Milan"},
                },
                "visit-2": {"contactId": stranger.public_id, "data": {"Store": "Rome"}},
                "visit-3": {"contactId": contact.public_id, "transactionDate": "yesterday"},
            },
        )
    )

    transaction = Transaction.objects.get()
    assert answer["createdTransactions"] == {"visit-1": {"id": transaction.public_id}}
    assert set(answer["unprocessedTransactions"]) == {"visit-2", "visit-3"}
    assert "transactionDate" in answer["unprocessedTransactions"]["visit-3"]["errorMessage"]
    assert (transaction.contact, transaction.mailing_list, transaction.data) == (
        contact,
        mailing_list,
        {"Store": "Milan"},
    )
    assert transaction.transaction_date.isoformat() == "2024-03-05T09:41:07+00:00"


def test_it_refuses_more_than_a_thousand_transactions_at_once(superuser_api):
    directory = make_directory()
    contact = make_contact(directory=directory)
    body = {f"t{n}": {"contactId": contact.public_id} for n in range(1001)}

    response = superuser_api.post(f"directories/{directory.public_id}/transactions", body)

    assert response.status_code == 400
    assert "At most 1000" in error(response)["errorMessage"]
    assert not Transaction.objects.exists()


def test_it_takes_a_thousand_transactions_at_once(superuser_api):
    directory = make_directory()
    contact = make_contact(directory=directory)
    body = {f"t{n}": {"contactId": contact.public_id, "data": {"n": str(n)}} for n in range(1000)}

    answer = result(superuser_api.post(f"directories/{directory.public_id}/transactions", body))

    assert len(answer["createdTransactions"]) == 1000
    assert Transaction.objects.count() == 1000


def test_each_unprocessed_item_says_which_field_is_wrong_and_why(superuser_api):
    directory = make_directory()
    contact = make_contact(directory=directory)

    answer = result(
        superuser_api.post(
            f"directories/{directory.public_id}/transactions",
            {
                "not-an-object": "visit",
                "bad-data": {"contactId": contact.public_id, "data": {"Store": {"city": "Milan"}, "Total": None}},
            },
        )
    )

    assert answer["unprocessedTransactions"] == {
        "not-an-object": {"errorMessage": "Invalid data. Expected a dictionary, but got str."},
        "bad-data": {"errorMessage": "data.Store: Not a valid string.; data.Total: This field may not be null."},
    }
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(
    ("time_zone", "written"), [("Asia/Tokyo", "0001-01-01T00:00:00"), ("America/New_York", "9999-12-31T23:59:59")]
)
def test_a_date_the_site_time_zone_takes_past_the_calendar_is_unprocessed_not_a_500(
    superuser_api, settings, time_zone, written
):
    settings.TIME_ZONE = time_zone
    directory = make_directory()
    contact = make_contact(directory=directory)

    answer = result(
        superuser_api.post(
            f"directories/{directory.public_id}/transactions",
            {"early-or-late": {"contactId": contact.public_id, "transactionDate": written}},
        )
    )

    assert answer["unprocessedTransactions"] == {
        "early-or-late": {"errorMessage": "transactionDate: Datetime value out of range."}
    }
    assert not Transaction.objects.exists()
