"""django-q2's pages of finished jobs and schedules, checked against permissions.

django-q2 offers "Resubmit selected tasks to queue" on Successful and Failed tasks to anybody who
may open those lists, even with the right to view them only; on Failed tasks it also deletes the
rows it resubmits. Here the action needs the right to change the list's rows, and on Failed tasks
the right to delete them too.

A schedule names the function a worker imports and calls (and a hook it calls with the result):
django-q2 takes any dotted path, so the right to add or change schedules would be the right to run
any code (os.system) on the workers' machines. Here a schedule may name only one of the product's
background jobs (a public function of an app's jobs.py). The pages are otherwise django-q2's own.
"""

import functools
import inspect
from importlib import import_module
from pathlib import Path

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django_q import admin as django_q_admin
from django_q.models import Failure, Schedule, Success


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


@functools.cache
def product_jobs() -> frozenset[str]:
    """Dotted paths of the product's background jobs: the public functions each of its apps
    defines in its jobs.py (workflows.jobs.dispatch_due_runs, ...), not those it imports there."""
    found = set()
    for app_config in apps.get_app_configs():
        # The product's apps are the packages at the top of its folder. A third-party app's jobs are
        # not the product's to schedule, and may sit below that folder too (the README's .venv).
        if Path(app_config.path).resolve().parent != Path(settings.BASE_DIR).resolve():
            continue
        try:
            module = import_module(f"{app_config.name}.jobs")
        except ModuleNotFoundError as error:
            if error.name != f"{app_config.name}.jobs":
                raise
            continue
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("_") and function.__module__ == module.__name__:
                found.add(f"{module.__name__}.{name}")
    return frozenset(found)


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = [
            "name",
            "func",
            "hook",
            "args",
            "kwargs",
            "schedule_type",
            "minutes",
            "repeats",
            "next_run",
            "cron",
            "cluster",
            "intended_date_kwarg",
        ]

    def clean_func(self):
        return _product_job(self.cleaned_data["func"])

    def clean_hook(self):
        hook = (self.cleaned_data.get("hook") or "").strip()
        if not hook:
            return None
        return _product_job(hook)


def _product_job(path: str) -> str:
    path = path.strip()
    if path not in product_jobs():
        raise forms.ValidationError(
            f"{path} is not one of this product's background jobs, the only functions a schedule may run: "
            f"{', '.join(sorted(product_jobs()))}."
        )
    return path


class ScheduleAdmin(django_q_admin.ScheduleAdmin):
    form = ScheduleForm


for model, model_admin in ((Success, SuccessAdmin), (Failure, FailureAdmin), (Schedule, ScheduleAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
