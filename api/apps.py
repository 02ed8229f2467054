from django.apps import AppConfig


class ApiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "api"
    verbose_name = "REST API"

    def ready(self):
        from django.db.models.signals import pre_delete

        from api import schema  # noqa: F401  registers the token scheme with drf-spectacular
        from api.services import contact_deleting
        from directory.models import Contact

        # Deleting a contact erases the answers kept for Idempotency-Keys that show it.
        pre_delete.connect(contact_deleting, sender=Contact, dispatch_uid="api.contact_deleting")
