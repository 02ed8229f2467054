#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import InterfaceError, OperationalError

    try:
        if sys.argv[1:2] == ["qcluster"]:  # the worker waits for the database rather than exit at start
            import django

            django.setup()
            from config.database import database_wait

            database_wait()
        execute_from_command_line(sys.argv)
    except (ImproperlyConfigured, OperationalError, InterfaceError) as error:
        # A setting the product cannot work with, or a database it cannot reach: the message says
        # what to fix, a traceback would only bury it (--traceback shows it all the same).
        if "--traceback" in sys.argv:
            raise
        what = "The database cannot be reached" if not isinstance(error, ImproperlyConfigured) else "Setting error"
        sys.stderr.write(f"{what}: {str(error).strip()}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
