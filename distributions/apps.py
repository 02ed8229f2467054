from django.apps import AppConfig


class DistributionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "distributions"
    verbose_name = "Distributions"
