"""/API/v3/...: one route per resource (api/resources/), the schema and its docs page.

Paths have no trailing slash, as the reference's. Any other path under /API/ is a 404 in the
envelope.
"""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularSwaggerView

from api.envelope import not_found
from api.resources import (
    contacts,
    directories,
    distributions,
    response_exports,
    surveys,
    transactions,
    whoami,
    workflows,
)
from api.schema_view import SchemaView

app_name = "api"

DIRECTORY = "v3/directories/<str:directoryId>"
WORKFLOW = "v3/workflows/<str:workflowId>"
EXPORTS = "v3/surveys/<str:surveyId>/export-responses"

urlpatterns = [
    path("v3/schema/", SchemaView.as_view(), name="schema"),
    path("v3/docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("v3/whoami", whoami.WhoAmIView.as_view(), name="whoami"),
    path("v3/surveys", surveys.SurveyListView.as_view(), name="surveys"),
    path("v3/surveys/<str:surveyId>", surveys.SurveyDetailView.as_view(), name="survey"),
    path(EXPORTS, response_exports.ExportStartView.as_view(), name="response-exports"),
    path(f"{EXPORTS}/<str:exportProgressId>", response_exports.ExportProgressView.as_view(), name="response-export"),
    path(f"{EXPORTS}/<str:fileId>/file", response_exports.ExportFileView.as_view(), name="response-export-file"),
    path("v3/directories", directories.DirectoryListView.as_view(), name="directories"),
    path(f"{DIRECTORY}/contacts", contacts.ContactListView.as_view(), name="contacts"),
    path(f"{DIRECTORY}/contacts/search", contacts.ContactSearchView.as_view(), name="contacts-search"),
    path(f"{DIRECTORY}/contacts/<str:contactId>", contacts.ContactDetailView.as_view(), name="contact"),
    path(f"{DIRECTORY}/mailinglists", directories.MailingListListView.as_view(), name="mailing-lists"),
    path(
        f"{DIRECTORY}/mailinglists/<str:mailingListId>/contacts",
        contacts.MailingListContactsView.as_view(),
        name="mailing-list-contacts",
    ),
    path(f"{DIRECTORY}/transactions", transactions.TransactionBatchView.as_view(), name="transactions"),
    path("v3/distributions", distributions.DistributionListView.as_view(), name="distributions"),
    path("v3/distributions/<str:distributionId>", distributions.DistributionDetailView.as_view(), name="distribution"),
    path(
        "v3/distributions/<str:distributionId>/history",
        distributions.DistributionHistoryView.as_view(),
        name="distribution-history",
    ),
    path(
        "v3/distributions/<str:distributionId>/links",
        distributions.DistributionLinksView.as_view(),
        name="distribution-links",
    ),
    path("v3/workflows", workflows.WorkflowListView.as_view(), name="workflows"),
    path(f"{WORKFLOW}/runs", workflows.RunListView.as_view(), name="runs"),
    path(f"{WORKFLOW}/runs/<str:runId>", workflows.RunDetailView.as_view(), name="run"),
    path(f"{WORKFLOW}/runs/<str:runId>/replay", workflows.RunReplayView.as_view(), name="run-replay"),
    re_path(r"^(?P<unknown>.*)$", not_found, name="not-found"),
]
