"""Survey lifecycle: new → active (published) ⇄ paused → closed; only an active survey may be sent."""

from django.db import transaction

from distributions.models import Survey


class SurveyError(Exception):
    """A survey change that cannot be made as asked; the message says what to do instead."""


def survey_set_status(*, survey: Survey, status: str) -> bool:
    """Move the survey to `status`. -> whether it changed (setting the current status is a no-op)."""
    status = Survey.Status(status)
    if survey.status == status:
        return False
    # An empty survey would send recipients to a page with nothing to answer.
    if status == Survey.Status.ACTIVE and not survey.questions.exists():
        raise SurveyError(f"Add at least one question to “{survey}” before activating it.")
    survey.status = status
    survey.save(update_fields=["status", "updated_at"])
    return True


def survey_update(*, survey: Survey, name: str | None = None, is_active: bool | None = None) -> Survey:
    """Rename the survey and/or activate it (is_active True) or pause an active one (False); a
    survey that is not active stays as it is when asked not to be. Raises SurveyError, changing
    nothing, when it cannot be activated (see survey_set_status) or the name is empty."""
    if name is not None and not name.strip():
        raise SurveyError("Give the survey a name.")
    with transaction.atomic():
        if is_active is True:
            survey_set_status(survey=survey, status=Survey.Status.ACTIVE)
        elif is_active is False and survey.status == Survey.Status.ACTIVE:
            survey_set_status(survey=survey, status=Survey.Status.PAUSED)
        if name is not None and name.strip() != survey.name:
            survey.name = name.strip()
            survey.save(update_fields=["name", "updated_at"])
    return survey
