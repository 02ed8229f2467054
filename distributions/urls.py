from django.urls import path

from distributions import webhooks
from distributions.views import survey, twilio

app_name = "distributions"

urlpatterns = [
    path("s/<str:token>/", survey.survey_page, name="survey"),
    path("s/<str:token>/opt-out/", survey.opt_out_page, name="opt-out"),
    path("r/<str:code>", survey.short_link, name="short-link"),
    path("webhooks/twilio/inbound/", twilio.inbound, name="twilio-inbound"),
    path("webhooks/twilio/status/", twilio.status, name="twilio-status"),
    # As often pasted into Twilio's console, without the final slash: Django cannot redirect a
    # POST there (a 500 with DEBUG, a 301 Twilio does not repeat the form to otherwise).
    path("webhooks/twilio/inbound", twilio.inbound),
    path("webhooks/twilio/status", twilio.status),
    path("webhooks/<slug:esp>/tracking/", webhooks.tracking_webhook, name="tracking_webhook"),
]
