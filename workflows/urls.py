from django.urls import path

from workflows import views

app_name = "workflows"

urlpatterns = [
    path("salesforce/<str:token>/", views.salesforce_event, name="salesforce-event"),
]
