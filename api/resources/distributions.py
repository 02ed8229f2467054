"""Distributions, read-only: GET /distributions?surveyId=, GET /distributions/{id}[?surveyId=],
GET /distributions/{id}/history, GET /distributions/{id}/links.

Besides the model permissions, the token's user must be the survey's owner or a collaborator with
the distribute permission (the rule that decides who may send it), or a superuser.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.base import ApiView, forbidden, get_or_404, utc_datetime, validated
from api.envelope import ApiError
from api.pagination import Page, PageQuerySerializer, page_of
from distributions.models import Distribution, Invitation, Survey
from distributions.selectors import (
    DISTRIBUTION_VIEW,
    distribution_history_page,
    distribution_with_counts,
    distributions_page,
    survey_link,
    survey_may_distribute,
)
from distributions.services.invitation_channels import SMS_CHANNELS

# The history shows each recipient and their response, as the history CSV does.
HISTORY_VIEW = (*DISTRIBUTION_VIEW, "distributions.view_response")
STATUS_LABELS = dict(Invitation.Status.choices)


class StatsSerializer(serializers.Serializer):
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    started = serializers.IntegerField()
    bounced = serializers.IntegerField()
    opened = serializers.IntegerField()
    skipped = serializers.IntegerField()
    finished = serializers.IntegerField()
    complaints = serializers.IntegerField()
    blocked = serializers.IntegerField()


class HeadersSerializer(serializers.Serializer):
    fromEmail = serializers.CharField(source="from_email")
    fromName = serializers.CharField(source="from_name")
    replyToEmail = serializers.CharField(source="reply_to")
    subject = serializers.CharField()


class DistributionSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    surveyId = serializers.CharField(source="survey.public_id")
    channel = serializers.CharField(help_text="email, sms or two_way_sms.")
    workflowId = serializers.IntegerField(source="run.workflow_id", allow_null=True, default=None)
    runId = serializers.IntegerField(source="run_id", allow_null=True)
    headers = HeadersSerializer(source="*")
    sendDate = utc_datetime(source="created_at")
    stats = StatsSerializer(source="*", help_text="Recipients by how far they got (a finished one was also sent).")


class HistorySerializer(serializers.Serializer):
    contactId = serializers.CharField(source="contact.public_id", allow_null=True, default=None)
    status = serializers.SerializerMethodField(help_text="As in the history CSV, e.g. Email Sent, Survey Finished.")
    surveyLink = serializers.SerializerMethodField()
    linkExpiration = utc_datetime(source="expires_at", allow_null=True)
    sentAt = utc_datetime(source="sent_at", allow_null=True)
    openedAt = utc_datetime(source="opened_at", allow_null=True)
    responseStartedAt = utc_datetime(source="response.started_at", allow_null=True, default=None)
    responseCompletedAt = utc_datetime(source="response.finished_at", allow_null=True, default=None)
    responseId = serializers.CharField(source="response.public_id", allow_null=True, default=None)

    def get_status(self, invitation) -> str:
        return STATUS_LABELS.get(invitation.status, invitation.status)

    def get_surveyLink(self, invitation) -> str:
        return survey_link(invitation.token)


class LinkSerializer(serializers.Serializer):
    contactId = serializers.CharField(source="contact.public_id", allow_null=True, default=None)
    link = serializers.SerializerMethodField()
    linkExpiration = utc_datetime(source="expires_at", allow_null=True)
    status = serializers.SerializerMethodField()
    firstName = serializers.CharField(source="contact.first_name", allow_null=True, default=None)
    lastName = serializers.CharField(source="contact.last_name", allow_null=True, default=None)
    email = serializers.SerializerMethodField(
        help_text="The address the invitation was emailed to; for an SMS invitation or a two-way SMS survey, the "
        "phone (E.164) it was texted to, as the history CSV's Email Address column carries it."
    )
    externalDataReference = serializers.CharField(
        source="contact.external_data_reference", allow_null=True, default=None
    )
    unsubscribed = serializers.BooleanField(source="contact.unsubscribed", allow_null=True, default=None)

    def get_link(self, invitation) -> str:
        return survey_link(invitation.token)

    def get_status(self, invitation) -> str:
        return STATUS_LABELS.get(invitation.status, invitation.status)

    def get_email(self, invitation) -> str | None:
        # The page's distribution is in the context: one channel for all its rows, no query per row.
        if self.context["channel"] in SMS_CHANNELS:
            return invitation.address
        # Where it went, as the history CSV's Email Address column: the contact's email may have changed since.
        return invitation.address or (invitation.contact.email if invitation.contact else None)


class SurveyQuerySerializer(serializers.Serializer):
    surveyId = serializers.CharField(max_length=32, help_text="The survey the distribution belongs to.")


class OptionalSurveyQuerySerializer(serializers.Serializer):
    surveyId = serializers.CharField(max_length=32, required=False, help_text="Checked when given.")


def _survey(request, survey_id: str) -> Survey:
    survey = get_or_404(
        Survey.objects.all(), f"No survey {survey_id}: list them with GET /surveys.", public_id=survey_id
    )
    _check_may_distribute(request, survey)
    return survey


def _check_may_distribute(request, survey: Survey) -> None:
    user = request.user
    if user.is_superuser or survey_may_distribute(survey=survey, user_id=user.pk):
        return
    raise forbidden(
        f"Only the owner of survey {survey.public_id}, or a collaborator given the distribute permission, "
        "may see its distributions: ask its owner to add you as such a collaborator."
    )


def _distribution(request, distribution_id: str, *, survey_id: str | None = None) -> Distribution:
    row = get_or_404(
        Distribution.objects.select_related("survey"), f"No distribution {distribution_id}.", public_id=distribution_id
    )
    if survey_id is not None and row.survey.public_id != survey_id:
        raise ApiError(f"No distribution {distribution_id} of survey {survey_id}.", code="NOT_FOUND", status=404)
    _check_may_distribute(request, row.survey)
    return row


def _serialize(distribution):
    return DistributionSerializer(distribution).data


class DistributionListView(ApiView):
    required_permissions = {"GET": DISTRIBUTION_VIEW}

    @extend_schema(
        operation_id="listDistributions",
        parameters=[SurveyQuerySerializer, PageQuerySerializer],
        responses=page_of(DistributionSerializer),
    )
    def get(self, request):
        survey = _survey(request, validated(SurveyQuerySerializer, request.query_params)["surveyId"])
        page = Page(request, list_name="distributions")
        rows = distributions_page(survey=survey, after_id=page.after, limit=page.fetch_size)
        return Response(page.result(rows, key=lambda row: row.pk, serialize=_serialize))


class DistributionDetailView(ApiView):
    required_permissions = {"GET": DISTRIBUTION_VIEW}

    @extend_schema(
        operation_id="getDistribution", parameters=[OptionalSurveyQuerySerializer], responses=DistributionSerializer
    )
    def get(self, request, distribution_id):
        survey_id = validated(OptionalSurveyQuerySerializer, request.query_params).get("surveyId")
        distribution = _distribution(request, distribution_id, survey_id=survey_id)
        return Response(_serialize(distribution_with_counts(distribution_id=distribution.pk)))


class DistributionHistoryView(ApiView):
    required_permissions = {"GET": HISTORY_VIEW}

    @extend_schema(
        operation_id="getDistributionHistory",
        summary="Per recipient: status, survey link, when sent, opened, started and finished, and the response",
        parameters=[OptionalSurveyQuerySerializer, PageQuerySerializer],
        responses=page_of(HistorySerializer),
    )
    def get(self, request, distribution_id):
        survey_id = validated(OptionalSurveyQuerySerializer, request.query_params).get("surveyId")
        distribution = _distribution(request, distribution_id, survey_id=survey_id)
        page = Page(request, list_name="history")
        rows = distribution_history_page(distribution=distribution, after_id=page.after, limit=page.fetch_size)
        return Response(page.result(rows, key=lambda row: row.pk, serialize=lambda row: HistorySerializer(row).data))


class DistributionLinksView(ApiView):
    required_permissions = {"GET": DISTRIBUTION_VIEW}

    @extend_schema(
        operation_id="listDistributionLinks",
        summary="Each recipient's individual survey link",
        parameters=[SurveyQuerySerializer, PageQuerySerializer],
        responses=page_of(LinkSerializer),
    )
    def get(self, request, distribution_id):
        survey_id = validated(SurveyQuerySerializer, request.query_params)["surveyId"]
        distribution = _distribution(request, distribution_id, survey_id=survey_id)
        page = Page(request, list_name="links")
        context = {"channel": distribution.channel}
        rows = distribution_history_page(distribution=distribution, after_id=page.after, limit=page.fetch_size)
        return Response(
            page.result(rows, key=lambda row: row.pk, serialize=lambda row: LinkSerializer(row, context=context).data)
        )
