"""django-q2's job pages: resubmitting jobs takes more than the right to view them."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django_q.models import Failure, Schedule, Success
from django_q.models import Task as Job

from tests.factories import make_user

pytestmark = pytest.mark.django_db


def finished_job(*, success: bool) -> Job:
    now = timezone.now()
    return Job.objects.create(
        id=f"{success:d}" * 32,
        name=f"job-{success}",
        func="workflows.jobs.dispatch_due_runs",
        started=now,
        stopped=now,
        success=success,
    )


def staff_with(client, *codenames):
    user = make_user()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="django_q", codename__in=codenames))
    client.force_login(user)


def resubmit(client, model, job):
    url = reverse(f"admin:django_q_{model._meta.model_name}_changelist")
    return client.post(url, {"action": "resubmit_task", "_selected_action": [job.pk]})


@pytest.mark.parametrize(
    "model, codenames",
    [
        (Failure, ["view_failure"]),
        (Failure, ["view_failure", "change_failure"]),  # resubmitting deletes the failed job's row
        (Success, ["view_success"]),
    ],
)
def test_it_refuses_to_resubmit_jobs_without_the_right_to_change_them(client, model, codenames):
    job = finished_job(success=model is Success)
    staff_with(client, *codenames)

    resubmit(client, model, job)

    assert list(Job.objects.values_list("pk", flat=True)) == [job.pk]


def test_it_resubmits_a_failed_job_for_who_may_change_and_delete_it(client):
    job = finished_job(success=False)
    staff_with(client, "view_failure", "change_failure", "delete_failure")

    resubmit(client, Failure, job)

    assert not Failure.objects.filter(pk=job.pk).exists()
    assert Success.objects.filter(func=job.func).exists()  # the test settings run jobs at once


def test_it_resubmits_a_successful_job_for_who_may_change_it(client):
    job = finished_job(success=True)
    staff_with(client, "view_success", "change_success")

    resubmit(client, Success, job)

    assert Success.objects.filter(func=job.func).exclude(pk=job.pk).exists()


# --- schedules: the worker calls a schedule's function, so the admin offers only the product's jobs --


def schedule_form(**fields):
    return {
        "name": "Nightly",
        "func": "workflows.jobs.purge_history",
        "hook": "",
        "args": "",
        "kwargs": "",
        "schedule_type": "D",
        "minutes": "",
        "repeats": "-1",
        "next_run_0": "2030-01-01",
        "next_run_1": "03:00:00",
        "cron": "",
        "cluster": "",
        "intended_date_kwarg": "",
        **fields,
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"func": "os.system", "args": "'touch /tmp/owned'"},
        {"func": "subprocess.check_output", "args": "['id']"},
        {"func": "django.core.management.call_command", "args": "'flush', interactive=False"},
        {"func": "workflows.jobs.os.system"},  # a module the jobs module imports
        {"hook": "os.system"},
    ],
)
def test_a_schedule_runs_no_function_but_the_products_jobs(client, fields):
    """A worker imports and calls whatever a schedule names: with any other function, the right to
    add or change schedules would be the right to run code on the workers' machines."""
    staff_with(client, "add_schedule", "change_schedule", "view_schedule")
    existing = Schedule.objects.create(func="workflows.jobs.purge_history", name="Existing")
    before = set(Schedule.objects.values_list("pk", "func", "hook"))

    added = client.post(reverse("admin:django_q_schedule_add"), schedule_form(**fields))
    changed = client.post(
        reverse("admin:django_q_schedule_change", args=[existing.pk]), schedule_form(name="Existing", **fields)
    )

    assert added.status_code == changed.status_code == 200  # the form again, with its error
    assert escape("not one of this product's background jobs") in added.content.decode()
    assert set(Schedule.objects.values_list("pk", "func", "hook")) == before


def test_a_schedule_of_a_products_job_is_saved(client):
    staff_with(client, "add_schedule", "view_schedule")

    form = schedule_form(name="Purge texts again", func="distributions.jobs.purge_texts")

    response = client.post(reverse("admin:django_q_schedule_add"), form)

    assert response.status_code == 302
    assert Schedule.objects.get(name="Purge texts again").func == "distributions.jobs.purge_texts"


@pytest.fixture
def third_party_app_in_the_venv(monkeypatch, settings):
    """An installed app with a jobs.py, below the repository's folder as the README's .venv puts it."""
    import sys
    import types
    from pathlib import Path

    from django.apps import apps

    from config.admin import product_jobs

    package, jobs = types.ModuleType("thirdparty"), types.ModuleType("thirdparty.jobs")

    def run_anything():
        """What a dependency's jobs module may hold."""

    run_anything.__module__ = "thirdparty.jobs"
    jobs.run_anything = run_anything
    monkeypatch.setitem(sys.modules, "thirdparty", package)
    monkeypatch.setitem(sys.modules, "thirdparty.jobs", jobs)
    venv_app = types.SimpleNamespace(
        name="thirdparty", path=str(Path(settings.BASE_DIR, ".venv", "lib", "site-packages", "thirdparty"))
    )
    installed = apps.get_app_configs()
    monkeypatch.setattr(apps, "get_app_configs", lambda: [*installed, venv_app])
    product_jobs.cache_clear()
    yield
    product_jobs.cache_clear()


def test_a_schedule_runs_no_job_of_a_third_party_app_installed_below_the_product(client, third_party_app_in_the_venv):
    staff_with(client, "add_schedule", "view_schedule")

    refused = client.post(reverse("admin:django_q_schedule_add"), schedule_form(func="thirdparty.jobs.run_anything"))
    saved = client.post(reverse("admin:django_q_schedule_add"), schedule_form(func="workflows.jobs.purge_history"))

    assert refused.status_code == 200
    assert escape("not one of this product's background jobs") in refused.content.decode()
    assert saved.status_code == 302
    assert list(Schedule.objects.filter(name="Nightly").values_list("func", flat=True)) == [
        "workflows.jobs.purge_history"
    ]


def test_the_products_jobs_are_found_through_a_symlinked_folder(monkeypatch, settings, tmp_path):
    from pathlib import Path
    from types import SimpleNamespace

    from django.apps import apps

    from config.admin import product_jobs

    (tmp_path / "checkout").symlink_to(Path(settings.BASE_DIR), target_is_directory=True)
    linked = SimpleNamespace(name="workflows", path=str(tmp_path / "checkout" / "workflows"))
    monkeypatch.setattr(apps, "get_app_configs", lambda: [linked])
    product_jobs.cache_clear()
    try:
        assert "workflows.jobs.dispatch_due_runs" in product_jobs()
    finally:
        product_jobs.cache_clear()
