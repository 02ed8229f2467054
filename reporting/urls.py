"""Reporting URLs, mounted under admin/reporting/ and served through the admin site's login check."""

from django.contrib import admin
from django.urls import path

from reporting import dashboard, views

app_name = "reporting"

urlpatterns = [
    path(
        "distributions/<int:distribution_id>/history.csv",
        admin.site.admin_view(views.distribution_history_csv),
        name="distribution_history_csv",
    ),
    path(
        "surveys/<int:survey_id>/history.csv",
        admin.site.admin_view(views.survey_history_csv),
        name="survey_history_csv",
    ),
    path("dashboard/", admin.site.admin_view(dashboard.dashboard), name="dashboard"),
    path(
        "surveys/<int:survey_id>/summary/",
        admin.site.admin_view(dashboard.survey_summary),
        name="survey_summary",
    ),
]
