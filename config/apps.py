from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The project package as an app: its system checks (config/checks.py), admin (config/admin.py) and
    PostgreSQL connection setup (config/postgresql.py)."""

    name = "config"
    verbose_name = "Configuration"

    def ready(self):
        from django_q.signals import post_spawn

        from config import checks  # noqa: F401  (registers the checks)
        from config.postgresql import connect_array_dumper
        from config.sqlite3.write_gate import yield_to_requests

        # A worker's writes can wait; a request's (the event endpoint's ack) should not.
        post_spawn.connect(lambda **kwargs: yield_to_requests(), dispatch_uid="yield_to_requests", weak=False)
        connect_array_dumper()
