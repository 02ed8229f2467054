from django.apps import AppConfig
from django.core import checks


class DistributionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "distributions"
    verbose_name = "Distributions"

    def ready(self):
        from distributions import tasks, webhooks  # noqa: F401  webhooks connects the anymail tracking receivers
        from distributions.checks import check_public_base_url
        from workflows.tasks import registry

        registry.register(tasks.KIND)
        checks.register(check_public_base_url)
