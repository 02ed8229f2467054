"""Create or update workflows from a file written by export_workflows."""

import json
import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from workflows.services.transfer import TransferError, workflows_import
from workflows.validation import task_warnings


class Command(BaseCommand):
    help = (
        "Create the workflows of a file written by export_workflows, all or none. A workflow whose "
        "name exists is replaced (settings, conditions, tasks) but keeps its event URL."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help="The exported JSON file; - reads standard input.")
        parser.add_argument(
            "--owner",
            metavar="USERNAME",
            help="Owner of the workflows whose exported owner has no account here.",
        )

    def handle(self, *args, file, owner, **options):
        document = self._read(file)
        try:
            results = workflows_import(document=document, default_owner=self._user(owner) if owner else None)
        except TransferError as error:
            raise CommandError(str(error)) from None
        for workflow, created in results:
            self.stdout.write(f"{'created' if created else 'updated'}: {workflow.name}  {workflow.event_url}")
            for task in workflow.tasks.all():
                for problem in task_warnings(task):
                    self.stdout.write(self.style.WARNING(f"  task {task}: its runs will fail until fixed: {problem}"))

    def _read(self, file: str):
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {file}: {getattr(error, 'strerror', None) or error}.") from None
        source = "The standard input" if file == "-" else file
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise CommandError(f"{source} is not JSON ({error}): pass a file written by export_workflows.") from None
        except RecursionError:
            raise CommandError(
                f"{source} nests arrays or objects too deeply to be read: pass a file written by export_workflows."
            ) from None

    def _user(self, username: str):
        User = get_user_model()
        try:
            return User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(
                f"There is no user {username!r}: pass the username of an existing user as --owner."
            ) from None
