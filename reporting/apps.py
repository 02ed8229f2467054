from django.apps import AppConfig


class ReportingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reporting"
    verbose_name = "Reporting"

    def ready(self):
        from django.urls import reverse

        from distributions.admin.display import ReportPage, history_csv_pages, survey_report_pages
        from reporting.dashboard import SUMMARY_PERMISSIONS
        from reporting.views import HISTORY_PERMISSIONS

        history_csv_pages["survey"] = ReportPage(
            lambda pk: reverse("reporting:survey_history_csv", args=[pk]), HISTORY_PERMISSIONS
        )
        history_csv_pages["distribution"] = ReportPage(
            lambda pk: reverse("reporting:distribution_history_csv", args=[pk]), HISTORY_PERMISSIONS
        )
        survey_report_pages["Distribution summary"] = ReportPage(
            lambda pk: reverse("reporting:survey_summary", args=[pk]), SUMMARY_PERMISSIONS
        )
