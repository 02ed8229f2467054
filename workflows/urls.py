from django.urls import path, re_path

from workflows import views

app_name = "workflows"

urlpatterns = [
    path("salesforce/<str:token>/", views.salesforce_event, name="salesforce-event"),
    # Every other path under salesforce/ reaches the endpoint too, so each call gets a SOAP answer
    # and a row in the inbound log: the URL without its trailing slash (a redirect would turn the
    # POST into a GET), no token at all, a token with a slash in it.
    re_path(r"^salesforce(?:/(?P<token>.*))?$", views.salesforce_event),
]
