import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from directory.models import Contact, DedupeKey, DedupeRule, MailingList, Membership, Transaction
from tests.factories import make_contact, make_directory

pytestmark = pytest.mark.django_db


def contact_url(contact):
    return reverse("admin:directory_contact_change", args=[contact.pk])


EMPTY_INLINES = {
    "memberships-TOTAL_FORMS": 0,
    "memberships-INITIAL_FORMS": 0,
    "memberships-MIN_NUM_FORMS": 0,
    "memberships-MAX_NUM_FORMS": 1000,
    "transactions-TOTAL_FORMS": 0,
    "transactions-INITIAL_FORMS": 0,
    "transactions-MIN_NUM_FORMS": 0,
    "transactions-MAX_NUM_FORMS": 0,
}


def contact_post(contact, **fields):
    """The contact change form's POST data, with empty membership and transaction rows."""
    data = {
        "directory": contact.directory_id,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "phone": contact.phone,
        "external_data_reference": contact.external_data_reference,
        "language": contact.language,
        **EMPTY_INLINES,
    }
    return {**data, **fields}


def test_it_shows_embedded_data_as_a_table(admin_client):
    contact = make_contact(email="ada@example.com", embedded_data={"Location": "Milan"})

    content = admin_client.get(contact_url(contact)).content.decode()

    assert "<tr><th>Location</th><td>Milan</td></tr>" in content


def test_it_shows_the_transaction_timeline_newest_first(admin_client):
    contact = make_contact(email="ada@example.com")
    now = timezone.now()
    Transaction.objects.create(contact=contact, transaction_date=now - timedelta(days=2), data={"Store": "Turin"})
    Transaction.objects.create(contact=contact, transaction_date=now, data={"Store": "Milan"}, run_id=77)

    content = admin_client.get(contact_url(contact)).content.decode()

    assert "Store: Milan" in content
    assert content.index("Store: Milan") < content.index("Store: Turin")


def test_it_warns_about_embedded_data_names_that_differ_only_by_case(admin_client):
    contact = make_contact(email="ada@example.com", embedded_data={"Store": "Milan", "store": "Turin"})

    content = admin_client.get(contact_url(contact)).content.decode()

    assert "Names that differ only by case: Store / store" in content


def test_it_edits_embedded_data_as_name_value_rows(admin_client):
    contact = make_contact(email="ada@example.com", embedded_data={"Location": "Milan"})
    data = contact_post(
        contact,
        embedded_data__name=["Location", "Notes", ""],
        embedded_data__value=["Turin", "line one\r\nline two", ""],
    )

    response = admin_client.post(contact_url(contact), data)

    contact.refresh_from_db()
    assert response.status_code == 302
    assert contact.embedded_data == {"Location": "Turin", "Notes": "line one\r\nline two"}


def test_it_refuses_an_embedded_data_value_without_a_name(admin_client):
    contact = make_contact(email="ada@example.com", embedded_data={"Location": "Milan"})
    data = contact_post(contact, embedded_data__name=[""], embedded_data__value=["Turin"])

    response = admin_client.post(contact_url(contact), data)

    contact.refresh_from_db()
    assert "Every row with a value needs a name." in response.content.decode()
    assert contact.embedded_data == {"Location": "Milan"}


def test_it_finds_a_contact_by_email_whatever_the_case(admin_client):
    directory = make_directory()
    make_contact(directory=directory, email="Ada@Example.com")
    make_contact(directory=directory, email="grace@example.com")

    response = admin_client.get(reverse("admin:directory_contact_changelist"), {"q": "ada@example.COM"})

    assert [contact.email for contact in response.context["cl"].result_list] == ["Ada@Example.com"]


def test_it_counts_mailing_list_members(admin_client):
    directory = make_directory()
    mailing_list = MailingList.objects.create(directory=directory, name="Customers")
    for email in ("a@example.com", "b@example.com"):
        Membership.objects.create(contact=make_contact(directory=directory, email=email), mailing_list=mailing_list)

    response = admin_client.get(reverse("admin:directory_mailinglist_changelist"))

    assert response.context["cl"].result_list[0].member_count == 2


def test_it_renders_the_transaction_list_read_only(admin_client):
    contact = make_contact(email="ada@example.com")
    Transaction.objects.create(contact=contact, transaction_date=timezone.now(), data={"Store": "Milan"})

    response = admin_client.get(reverse("admin:directory_transaction_changelist"), {"q": "ada@example.com"})

    assert "Store: Milan" in response.content.decode()
    assert reverse("admin:directory_transaction_add") not in response.content.decode()


def test_it_explains_the_order_of_dedupe_rules_on_the_directory_page(admin_client):
    directory = make_directory()

    content = admin_client.get(reverse("admin:directory_directory_change", args=[directory.pk])).content.decode()

    assert "tried in order" in content
    assert "matched by email, case-insensitive" in content


# The contact form reads email and phone as the REST API does, and refuses a duplicate.


def contact_add_post(directory, **fields):
    """The contact add form's POST data: a valid new contact unless `fields` say otherwise."""
    data = {
        "directory": directory.pk,
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@example.com",
        "phone": "",
        "external_data_reference": "",
        "language": "",
        **EMPTY_INLINES,
    }
    return {**data, **fields}


def add_contact(client, directory, **fields):
    return client.post(reverse("admin:directory_contact_add"), contact_add_post(directory, **fields))


def form_errors(response, field):
    return response.context["adminform"].form.errors.get(field, [])


def test_it_adds_a_valid_contact_with_its_email_normalized(admin_client):
    directory = make_directory()

    response = add_contact(admin_client, directory, email="Grace@EXAMPLE.com")

    assert response.status_code == 302
    assert response.url == reverse("admin:directory_contact_changelist")
    [contact] = Contact.objects.filter(directory=directory)
    assert (contact.first_name, contact.email) == ("Grace", "Grace@example.com")


def test_it_refuses_an_invalid_email_and_keeps_what_was_typed(admin_client):
    directory = make_directory()

    response = add_contact(admin_client, directory, email="not-an-email")

    assert response.status_code == 200
    [error] = form_errors(response, "email")
    assert error.startswith("Not a valid email address:")
    assert 'value="not-an-email"' in response.content.decode()
    assert not Contact.objects.filter(directory=directory).exists()


def test_it_refuses_an_invalid_phone(admin_client):
    directory = make_directory()

    response = add_contact(admin_client, directory, phone="n/a")

    assert response.status_code == 200
    [error] = form_errors(response, "phone")
    assert "'n/a' is not a valid phone number" in error
    assert not Contact.objects.filter(directory=directory).exists()


@pytest.mark.parametrize(
    ("region", "typed", "stored"),
    [("US", "415 555 0100", "+14155550100"), ("GB", "020 7946 0958", "+442079460958")],
)
def test_it_stores_a_national_phone_in_e164_read_in_the_default_region(admin_client, settings, region, typed, stored):
    settings.DEFAULT_PHONE_REGION = region
    directory = make_directory()

    response = add_contact(admin_client, directory, phone=typed)

    assert response.status_code == 302
    assert Contact.objects.get(directory=directory).phone == stored


def test_it_allows_a_contact_without_email_or_phone(admin_client):
    directory = make_directory()

    response = add_contact(admin_client, directory, email="", phone="")

    assert response.status_code == 302
    assert Contact.objects.get(directory=directory).email == ""


def test_it_refuses_a_contact_the_dedupe_rules_say_exists_naming_it(admin_client):
    directory = make_directory()
    ada = make_contact(directory=directory, first_name="Ada", email="ada@example.com")

    response = add_contact(admin_client, directory, first_name="Ada", email="ADA@example.com")

    assert response.status_code == 200
    [error] = form_errors(response, "email")
    assert "already has this contact" in error
    assert f'<a href="{contact_url(ada)}">' in response.content.decode()
    assert list(Contact.objects.filter(directory=directory)) == [ada]


def test_it_adds_the_same_email_to_another_directory(admin_client):
    make_contact(directory=make_directory(), email="ada@example.com")
    directory = make_directory()

    response = add_contact(admin_client, directory, email="ada@example.com")

    assert response.status_code == 302
    assert Contact.objects.filter(directory=directory).count() == 1


def test_it_refuses_a_phone_the_dedupe_rules_match_once_in_e164(admin_client, settings):
    settings.DEFAULT_PHONE_REGION = "US"
    directory = make_directory()
    DedupeRule.objects.create(directory=directory, position=1, key=DedupeKey.PHONE)
    make_contact(directory=directory, email="ada@example.com", phone="+14155550100")

    response = add_contact(admin_client, directory, phone="(415) 555-0100")

    assert response.status_code == 200
    [error] = form_errors(response, "phone")
    assert "already has this contact" in error
    assert Contact.objects.filter(directory=directory).count() == 1


def test_it_refuses_changing_a_contact_into_a_duplicate_of_another(admin_client):
    directory = make_directory()
    ada = make_contact(directory=directory, email="ada@example.com")
    grace = make_contact(directory=directory, email="grace@example.com")

    response = admin_client.post(contact_url(grace), contact_post(grace, email="Ada@Example.com"))

    assert response.status_code == 200
    [error] = form_errors(response, "email")
    assert "already has this contact" in error
    assert f'<a href="{contact_url(ada)}">' in response.content.decode()
    grace.refresh_from_db()
    assert grace.email == "grace@example.com"


def test_it_validates_a_changed_contact(admin_client):
    contact = make_contact(email="ada@example.com")

    response = admin_client.post(contact_url(contact), contact_post(contact, email="not-an-email", phone="n/a"))

    assert response.status_code == 200
    assert form_errors(response, "email") and form_errors(response, "phone")
    contact.refresh_from_db()
    assert (contact.email, contact.phone) == ("ada@example.com", "")


def test_a_contact_is_not_a_duplicate_of_itself(admin_client, settings):
    settings.DEFAULT_PHONE_REGION = "US"
    contact = make_contact(email="ada@example.com")
    data = contact_post(contact, email="ADA@example.com", phone="415 555 0100")

    response = admin_client.post(contact_url(contact), data)

    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.email, contact.phone) == ("ADA@example.com", "+14155550100")


def test_a_contact_saved_before_the_form_read_phones_can_still_be_edited_without_retyping_its_phone(admin_client):
    """The admin stored phones as typed until it read them as the REST API does: such a contact's
    other fields (a name, opting it out) must still be editable, its unchanged phone left as stored."""
    contact = make_contact(directory=make_directory(), email="ada@example.com", phone="ext. 12 (front desk)")

    response = admin_client.post(contact_url(contact), contact_post(contact, last_name="Byron"))

    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.last_name == "Byron"


@pytest.mark.django_db(transaction=True)
def test_two_admins_adding_the_same_person_at_once_save_one_contact(postgres_only, monkeypatch, django_user_model):
    """The second form's duplicate check waits for the first form's save, and then finds it."""
    from django.test import Client

    from directory import admin as directory_admin

    directory = make_directory()
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    first_checked, second_cleaning = threading.Event(), threading.Event()
    check_duplicate, clean = directory_admin.contact_duplicate, directory_admin.ContactForm.clean

    def first_pauses_after_its_check(**kwargs):
        found = check_duplicate(**kwargs)
        if threading.current_thread().name == "first":
            first_checked.set()
            second_cleaning.wait(timeout=10)
            time.sleep(0.3)  # long enough for the second form's check to run, if nothing holds it
        return found

    def second_says_when_it_cleans(form):
        if threading.current_thread().name == "second":
            second_cleaning.set()
        return clean(form)

    monkeypatch.setattr(directory_admin, "contact_duplicate", first_pauses_after_its_check)
    monkeypatch.setattr(directory_admin.ContactForm, "clean", second_says_when_it_cleans)
    responses = {}

    def post(name):
        try:
            if name == "second":
                assert first_checked.wait(timeout=10)
            client = Client()
            client.force_login(root)
            responses[name] = add_contact(client, directory, email="grace@example.com")
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(name,), name=name) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert [responses[name].status_code for name in ("first", "second")] == [302, 200]
    assert "already has this contact" in form_errors(responses["second"], "email")[0]
    assert Contact.objects.filter(directory=directory).count() == 1


@pytest.mark.parametrize("typed", ["(415) 555-0100", "+1 415 555 0100", "+14155550100"])
def test_it_finds_a_contact_by_phone_as_people_write_it(admin_client, settings, typed):
    settings.DEFAULT_PHONE_REGION = "US"
    directory = make_directory()
    make_contact(directory=directory, email="ada@example.com", phone="+14155550100")
    make_contact(directory=directory, email="grace@example.com", phone="+14155550199")

    response = admin_client.get(reverse("admin:directory_contact_changelist"), {"q": typed})

    assert [contact.email for contact in response.context["cl"].result_list] == ["ada@example.com"]
