from django.apps import AppConfig


class DistributionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "distributions"
    # As the reference platform names this part. "Distributions" is what it calls the sends of one
    # survey (the Distribution model, a survey's Distributions page): the section must not share it.
    verbose_name = "Surveys"

    def ready(self):
        from django.db.models.signals import post_delete, pre_delete

        from directory.models import Contact
        from distributions import tasks, webhooks  # noqa: F401  webhooks connects the anymail tracking receivers
        from distributions.models import ResponseExport
        from distributions.services.erasure import contact_deleting
        from distributions.services.response_export import response_export_deleted
        from distributions.services.sms_inbound import sms_session_handler_register
        from distributions.services.sms_sessions import SURVEY_SESSIONS
        from workflows.tasks import registry

        registry.register(tasks.KIND)
        sms_session_handler_register(SURVEY_SESSIONS)
        # However a contact is deleted (the API, the admin, with its directory), its copies go with it.
        pre_delete.connect(contact_deleting, sender=Contact, dispatch_uid="distributions.contact_deleting")
        post_delete.connect(response_export_deleted, sender=ResponseExport, dispatch_uid="distributions.export_deleted")
