"""django-q2's pages of finished jobs, with its resubmit action checked against permissions.

django-q2 offers "Resubmit selected tasks to queue" on Successful and Failed tasks to anybody who
may open those lists, even with the right to view them only; on Failed tasks it also deletes the
rows it resubmits. Here the action needs the right to change the list's rows, and on Failed tasks
the right to delete them too. The pages are otherwise django-q2's own.
"""

from django.contrib import admin
from django_q import admin as django_q_admin
from django_q.models import Failure, Success


@admin.action(description=django_q_admin.resubmit_task.short_description, permissions=["resubmit"])
def resubmit_task(model_admin, request, queryset):
    django_q_admin.resubmit_task(model_admin, request, queryset)


class SuccessAdmin(django_q_admin.TaskAdmin):
    actions = [resubmit_task]

    def has_resubmit_permission(self, request):
        return self.has_change_permission(request)


class FailureAdmin(django_q_admin.FailAdmin):
    actions = [resubmit_task]

    def has_resubmit_permission(self, request):
        return self.has_change_permission(request) and self.has_delete_permission(request)


for model, model_admin in ((Success, SuccessAdmin), (Failure, FailureAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
