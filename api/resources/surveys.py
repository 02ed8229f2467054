"""Surveys: GET /surveys, GET /surveys/{surveyId}, PUT /surveys/{surveyId} (name, isActive)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.base import ApiView, InputSerializer, get_or_404, utc_datetime, validated
from api.envelope import ApiError
from api.idempotency import idempotent
from api.pagination import Page, PageQuerySerializer, page_of
from distributions.export_file import question_id
from distributions.models import Survey
from distributions.services.surveys import SurveyError, survey_update


class SurveySerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    ownerId = serializers.CharField(source="owner.username", help_text="The owner's username.")
    isActive = serializers.SerializerMethodField()
    creationDate = utc_datetime(source="created_at")
    lastModified = utc_datetime(source="updated_at")

    def get_isActive(self, survey) -> bool:
        return survey.status == Survey.Status.ACTIVE


class QuestionSerializer(serializers.Serializer):
    questionId = serializers.SerializerMethodField()
    questionText = serializers.CharField(source="text")
    questionType = serializers.CharField(source="kind", help_text="multiple_choice, text or rating (0 to 10).")
    choices = serializers.ListField(source="choice_list", child=serializers.CharField())
    required = serializers.BooleanField()
    position = serializers.IntegerField()

    def get_questionId(self, question) -> str:
        return question_id(question)


class EmbeddedDataFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    defaultValue = serializers.CharField(source="default_value")


class SurveyDetailSerializer(SurveySerializer):
    status = serializers.CharField(help_text="new, active, paused or closed.")
    questions = QuestionSerializer(many=True, source="questions.all")
    embeddedData = EmbeddedDataFieldSerializer(many=True, source="fields.all")


class SurveyUpdateSerializer(InputSerializer):
    name = serializers.CharField(required=False, max_length=200)
    isActive = serializers.BooleanField(
        required=False, help_text="true activates the survey (it needs a question), false pauses it."
    )


SURVEY_VIEW = ("distributions.view_survey",)


def survey_or_404(survey_id: str) -> Survey:
    return get_or_404(
        Survey.objects.select_related("owner"),
        f"No survey {survey_id}: list them with GET /surveys.",
        public_id=survey_id,
    )


class SurveyListView(ApiView):
    required_permissions = {"GET": SURVEY_VIEW}

    @extend_schema(operation_id="listSurveys", parameters=[PageQuerySerializer], responses=page_of(SurveySerializer))
    def get(self, request):
        page = Page(request, list_name="surveys")
        surveys = Survey.objects.select_related("owner").order_by("id")
        if page.after is not None:
            surveys = surveys.filter(id__gt=page.after)
        return Response(page.result(list(surveys[: page.fetch_size]), key=lambda survey: survey.pk, serialize=_survey))


def _survey(survey):
    return SurveySerializer(survey).data


class SurveyDetailView(ApiView):
    required_permissions = {"GET": SURVEY_VIEW, "PUT": ("distributions.change_survey",)}

    @extend_schema(operation_id="getSurvey", responses=SurveyDetailSerializer)
    def get(self, request, survey_id):
        return Response(SurveyDetailSerializer(survey_or_404(survey_id)).data)

    @extend_schema(operation_id="updateSurvey", request=SurveyUpdateSerializer, responses=SurveyDetailSerializer)
    @idempotent
    def put(self, request, survey_id):
        survey = survey_or_404(survey_id)
        data = validated(SurveyUpdateSerializer, request.data)
        try:
            survey = survey_update(survey=survey, name=data.get("name"), is_active=data.get("isActive"))
        except SurveyError as error:
            raise ApiError(str(error), code="SURVEY_NOT_UPDATED") from None
        return Response(SurveyDetailSerializer(survey).data)
