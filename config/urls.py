from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/reporting/", include("reporting.urls")),
    path("admin/", admin.site.urls),
    path("events/", include("workflows.urls")),
    path("API/", include("api.urls")),
    path("", include("distributions.urls")),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"
