from django.apps import AppConfig


class ReportingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reporting"
    verbose_name = "Reporting"

    def ready(self):
        from django.urls import reverse

        from distributions.admin.display import history_csv_urls, survey_report_urls

        history_csv_urls["survey"] = lambda pk: reverse("reporting:survey_history_csv", args=[pk])
        history_csv_urls["distribution"] = lambda pk: reverse("reporting:distribution_history_csv", args=[pk])
        survey_report_urls["Distribution summary"] = lambda pk: reverse("reporting:survey_summary", args=[pk])
