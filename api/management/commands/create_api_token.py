"""python manage.py create_api_token USERNAME [--name NAME]: prints a new token, and only it."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.services import api_token_create


class Command(BaseCommand):
    help = (
        "Create an API token for a user and print it (only the token, so scripts can capture it). "
        "It acts with the user's permissions and is shown this once: only its digest is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What will use it, e.g. 'warehouse nightly load'.")

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(
                f"No user {username!r}: create it first (python manage.py createsuperuser, or the admin)."
            )
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive: its tokens would be refused. Activate it first.")
        _token, secret = api_token_create(user=user, name=name)
        self.stdout.write(secret)
