from django.apps import AppConfig


class DistributionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "distributions"
    verbose_name = "Distributions"

    def ready(self):
        from distributions import tasks, webhooks  # noqa: F401  webhooks connects the anymail tracking receivers
        from workflows.tasks import registry

        registry.register(tasks.KIND)
