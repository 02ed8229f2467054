"""The product's URLs plus the baselines the ingest and SMS inbound benchmarks compare the product with."""

from django.urls import include, path

from benchmarks import views

urlpatterns = [
    path("bench/bare/", views.bare, name="bench-bare"),
    path("bench/minimal/", views.minimal, name="bench-minimal"),
    path("bench/twilio-bare/", views.twilio_bare, name="bench-twilio-bare"),
    path("bench/twilio-record/", views.twilio_record, name="bench-twilio-record"),
    path("", include("config.urls")),
]
