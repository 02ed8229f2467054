"""Write workflows as JSON, to import them into another installation with import_workflows."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from workflows.services.transfer import TransferError, workflows_export


class Command(BaseCommand):
    help = (
        "Write workflows (settings, conditions and tasks, in order) as JSON for import_workflows. "
        "URL tokens are not exported: they are secrets of this installation."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "names", nargs="*", metavar="NAME", help="Only the workflows with these names (default: all)."
        )
        parser.add_argument("--output", "-o", metavar="FILE", help="Write to FILE instead of standard output.")

    def handle(self, *args, names, output, **options):
        try:
            document = workflows_export(names=names)
        except TransferError as error:
            raise CommandError(str(error)) from None
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if not output:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}.") from None
        count = len(document["workflows"])
        self.stderr.write(f"Wrote {count} workflow{'s' * (count != 1)} to {output}.")
