from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The project package as an app: its system checks (config/checks.py) and admin (config/admin.py)."""

    name = "config"
    verbose_name = "Configuration"

    def ready(self):
        from config import checks  # noqa: F401  (registers the checks)
