"""Renaming a directory or a mailing list carries the new name into the tasks that name it.

Directory tasks hold their directory and mailing list by name: a new list name is the admin's way
to have the list created on the first run, so the link cannot be an id. Without this, a renamed
directory would fail every run ("there is no directory named ...") and a renamed list would be
replaced by a new, empty list of the old name. The directory app sits below workflows, so it
cannot call this: WorkflowsConfig.ready() connects the pre_save receivers at the end.
"""

from directory.models import Directory, MailingList
from workflows.models import Task


def tasks_rename_directory(*, old: str, new: str) -> int:
    """Tasks whose config names directory `old` now name `new`. -> tasks changed"""
    changed = [task for task in _naming("directory") if task.config["directory"].strip() == old]
    for task in changed:
        task.config["directory"] = new
    Task.objects.bulk_update(changed, ["config"])
    return len(changed)


def tasks_rename_mailing_list(*, directory: Directory, old: str, new: str) -> int:
    """Tasks whose config names list `old` of `directory` (by name, or by leaving it empty when it
    is the default directory) now name `new`. -> tasks changed"""
    changed = [
        task
        for task in _naming("mailing_list")
        if task.config["mailing_list"].strip() == old and _names_directory(task, directory)
    ]
    for task in changed:
        task.config["mailing_list"] = new
    Task.objects.bulk_update(changed, ["config"])
    return len(changed)


def _names_directory(task: Task, directory: Directory) -> bool:
    name = (task.config.get("directory") or "").strip()
    return name == directory.name if name else directory.is_default


def _naming(key: str) -> list[Task]:
    # A few rows per workflow: read them all rather than rely on JSON lookups that differ by database.
    return [task for task in Task.objects.only("config") if isinstance(task.config.get(key), str)]


def directory_pre_save(sender, instance: Directory, raw=False, **kwargs) -> None:
    if raw or instance.pk is None:
        return
    old = Directory.objects.filter(pk=instance.pk).values_list("name", flat=True).first()
    if old is not None and old != instance.name:
        tasks_rename_directory(old=old, new=instance.name)


def mailing_list_pre_save(sender, instance: MailingList, raw=False, **kwargs) -> None:
    if raw or instance.pk is None:
        return
    # A list moved to another directory keeps the tasks as they are: they name the old directory.
    same_directory = MailingList.objects.filter(pk=instance.pk, directory_id=instance.directory_id)
    old = same_directory.values_list("name", flat=True).first()
    if old is not None and old != instance.name:
        tasks_rename_mailing_list(directory=instance.directory, old=old, new=instance.name)
