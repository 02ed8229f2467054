from django.urls import path

from distributions import webhooks
from distributions.views import survey

app_name = "distributions"

urlpatterns = [
    path("s/<str:token>/", survey.survey_page, name="survey"),
    path("s/<str:token>/opt-out/", survey.opt_out_page, name="opt-out"),
    path("webhooks/<slug:esp>/tracking/", webhooks.tracking_webhook, name="tracking_webhook"),
]
