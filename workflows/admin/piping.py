"""The piped-text menu's data on the admin pages that edit piped text (a task, a workflow's conditions).

The page carries the menu as JSON (`piped_text_menu` in the template context, printed by
config/templates/admin/base_site.html), so the menu reveals nothing the page's own permission
check does not already cover: it is there only when the page's form can be edited, and the
directory's embedded-data names only for users who may view contacts.
"""

from collections.abc import Iterable

from directory.selectors import contact_embedded_data_names
from workflows.models import Task, Workflow
from workflows.piping_menu import piped_text_menu

EMBEDDED_DATA_PERMISSION = "directory.view_contact"


def add_piped_text_menu(
    context: dict,
    request,
    *,
    editable: bool,
    workflow: Workflow | None,
    earlier_tasks: Iterable[Task] = (),
    embedded_data_names: Iterable[str] = (),
) -> None:
    """Put the menu for `workflow` (None: a page of no workflow, such as a survey) into the change
    form's `context` when the page's form is `editable` (the user may add or change what it edits).
    `embedded_data_names` are names the page itself shows (a survey's declared fields)."""
    if not editable:
        return
    names = set(embedded_data_names)
    if request.user.has_perm(EMBEDDED_DATA_PERMISSION):
        names |= contact_embedded_data_names()
    context["piped_text_menu"] = piped_text_menu(
        workflow=workflow, earlier_tasks=earlier_tasks, embedded_data_names=names
    )
