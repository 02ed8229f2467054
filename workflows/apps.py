from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self):
        from django.db.models.signals import pre_delete, pre_save

        from directory.models import Contact, Directory, MailingList
        from workflows.services import erasure, renames
        from workflows.tasks import add_to_directory, registry

        registry.register(add_to_directory.KIND)
        pre_save.connect(renames.directory_pre_save, sender=Directory, dispatch_uid="workflows.directory_renamed")
        pre_save.connect(
            renames.mailing_list_pre_save, sender=MailingList, dispatch_uid="workflows.mailing_list_renamed"
        )
        pre_delete.connect(erasure.contact_deleting, sender=Contact, dispatch_uid="workflows.contact_deleting")
