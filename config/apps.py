from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The project package as an app: its system checks (config/checks.py) and admin (config/admin.py)."""

    name = "config"
    verbose_name = "Configuration"

    def ready(self):
        from django_q.signals import post_spawn

        from config import checks  # noqa: F401  (registers the checks)
        from config.sqlite3.write_gate import yield_to_requests

        # A worker's writes can wait; a request's (the event endpoint's ack) should not.
        post_spawn.connect(lambda **kwargs: yield_to_requests(), dispatch_uid="yield_to_requests", weak=False)
