"""The product's URLs plus the two baselines the ingest benchmark compares the product with."""

from django.urls import include, path

from benchmarks import views

urlpatterns = [
    path("bench/bare/", views.bare, name="bench-bare"),
    path("bench/minimal/", views.minimal, name="bench-minimal"),
    path("", include("config.urls")),
]
