"""anymail signal receivers: the webhook views authenticate and normalize, the services decide.

anymail serves the webhook URLs (config/urls.py includes anymail.urls under /webhooks/) and checks
ANYMAIL["WEBHOOK_SECRET"] or the ESP's signature before any receiver runs. Imported from
DistributionsConfig.ready().
"""

from anymail.signals import pre_send, tracking
from django.dispatch import receiver

from distributions.services.tracking import message_tag_for_tracking, tracking_event_record


@receiver(tracking, dispatch_uid="distributions.tracking_event_received")
def tracking_event_received(sender, event, esp_name, **kwargs):
    tracking_event_record(event=event, esp_name=esp_name)


@receiver(pre_send, dispatch_uid="distributions.message_about_to_send")
def message_about_to_send(sender, message, esp_name, **kwargs):
    message_tag_for_tracking(message=message, esp_name=esp_name)
