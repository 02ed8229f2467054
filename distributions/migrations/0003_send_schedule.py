from django.db import migrations

NAME = "Send due survey invitations"


def create_schedule(apps, schema_editor):
    # Sends delayed invitations once due, retries temporary failures, and catches an immediate
    # send whose worker died before it ran.
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={
            "func": "distributions.jobs.send_due_invitations",
            "schedule_type": "I",
            "minutes": 1,
            "repeats": -1,
        },
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("distributions", "0002_invitation_message"),
        ("django_q", "0014_schedule_cluster"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
