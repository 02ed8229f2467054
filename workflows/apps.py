from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self):
        from workflows.tasks import add_to_directory, registry

        registry.register(add_to_directory.KIND)
