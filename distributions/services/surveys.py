"""Survey lifecycle: new → active (published) ⇄ paused → closed; only an active survey may be sent."""

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
