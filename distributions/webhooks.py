"""Delivery-tracking webhooks: the configured ESP's only, and none answers 500 to a stranger.

`/webhooks/<esp>/tracking/` serves django-anymail's tracking view of one ESP, the one
`tracking_esp()` names; any other ESP's URL is a 404, so an install exposes only the webhook it
uses. anymail's view authenticates the call (basic auth from ANYMAIL["WEBHOOK_SECRET"], and the
ESP's signature where the ESP signs) and normalizes the payload; the signal receivers at the end
hand each event to the tracking service. Imported from DistributionsConfig.ready().

anymail answers 500 when its view cannot be built (a missing signing key, boto3 not installed)
and when a payload it cannot parse arrives, authenticated or not. Here both are refused with a
400 and logged: a 500 would show anybody that the server is broken, and ESPs retry 5xx answers.
Errors after the payload is parsed (the database) still answer 5xx, so the ESP retries them.

A batch (SendGrid, Mailjet and SparkPost post JSON arrays of events, Mandrill a form field holding
one) that anymail cannot parse whole is parsed event by event: the events it can read are
recorded and the call answered 200, each other one logged. Refusing the batch would make the ESP
post it again, the unreadable event with the good ones, until it gives up on all of them.
"""

import copy
import json
import logging
import re
import warnings

from anymail import urls as anymail_urls
from anymail.exceptions import AnymailWarning, AnymailWebhookValidationFailure
from anymail.signals import pre_send, tracking
from anymail.utils import get_anymail_setting
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.dispatch import receiver
from django.http import Http404, HttpResponseBadRequest, QueryDict
from django.views.decorators.csrf import csrf_exempt

from distributions.services.tracking import message_tag_for_tracking, tracking_event_record

logger = logging.getLogger(__name__)

_ANYMAIL_BACKEND = re.compile(r"anymail\.backends\.(?P<esp>\w+)\.EmailBackend")


def _refusing_garbage(view_class):
    """anymail's tracking view `view_class`, refusing with a 400 what it would answer 500 to."""

    class TrackingWebhookView(view_class):
        def __init__(self, **kwargs):
            self.configuration_error = None
            try:
                super().__init__(**kwargs)
            except ImproperlyConfigured as error:  # anymail's configuration and installation errors
                self.configuration_error = error

        def dispatch(self, request, *args, **kwargs):
            if self.configuration_error is not None:
                logger.error(
                    "The %s tracking webhook refused a call: it cannot check calls until this is fixed: %s",
                    self.esp_name,
                    self.configuration_error,
                )
                return HttpResponseBadRequest(f"The {self.esp_name} tracking webhook is not configured.")
            return super().dispatch(request, *args, **kwargs)

        def run_validators(self, request):
            try:
                super().run_validators(request)
            except AnymailWebhookValidationFailure:
                raise
            except Exception as error:  # a body the validators could not even read
                raise AnymailWebhookValidationFailure(f"Unreadable {self.esp_name} webhook call: {error}") from error

        def parse_events(self, request):
            try:
                return super().parse_events(request)
            except Exception as error:
                try:
                    events = self.parse_events_one_by_one(request)
                except Exception:  # not a batch either (JSON nested too deep to read, a broken form)
                    events = []
                if events:
                    return events
                message = f"Unreadable {self.esp_name} tracking payload: {error}"
                raise AnymailWebhookValidationFailure(message) from error

        def parse_events_one_by_one(self, request) -> list:
            """The events anymail can read of a batch it could not parse whole, each parsed alone
            (the others logged); [] when the call is no batch or none of its events can be read."""
            batch, as_request = _batch_of(request)
            events = []
            for number, raw in enumerate(batch, start=1):
                try:
                    events.extend(super().parse_events(as_request(raw)))
                except Exception as error:
                    # Not the event itself: it names its recipient.
                    logger.warning(
                        "%s tracking event %d of %d cannot be read, and was left out: %s: %s",
                        self.esp_name,
                        number,
                        len(batch),
                        type(error).__name__,
                        error,
                    )
            return events

    TrackingWebhookView.__name__ = TrackingWebhookView.__qualname__ = f"Refusing{view_class.__name__}"
    return TrackingWebhookView


def _batch_of(request) -> tuple[list, object]:
    """A batch call's raw events, and a function making the call of one of them alone; ([], None)
    for a call that holds no batch."""
    if "mandrill_events" in request.POST:  # Mandrill: a form field holding a JSON array
        body, field = request.POST["mandrill_events"], "mandrill_events"
    else:
        body, field = request.body, None
    try:
        batch = json.loads(body)
    except ValueError:
        return [], None
    if not isinstance(batch, list) or len(batch) < 2:
        return [], None

    def as_request(raw):
        single = copy.copy(request)
        if field is None:
            single._body = json.dumps([raw]).encode()
        else:
            single._post = QueryDict(mutable=True)
            single._post[field] = json.dumps([raw])
        return single

    return batch, as_request


# ESP as in anymail's URLs ("postmark", "amazon_ses", ...) -> its tracking view.
TRACKING_VIEWS = {
    pattern.name.removesuffix("_tracking_webhook"): _refusing_garbage(pattern.callback.view_class).as_view()
    for pattern in anymail_urls.urlpatterns
    if pattern.name.endswith("_tracking_webhook")
}


def tracking_esp() -> str:
    """The ESP whose tracking webhook is served: TRACKING_WEBHOOK_ESP, else EMAIL_BACKEND's anymail
    ESP, else "" (none). Spelled as in anymail's backend modules and URLs, e.g. "postmark"."""
    if settings.TRACKING_WEBHOOK_ESP:
        return settings.TRACKING_WEBHOOK_ESP
    backend = _ANYMAIL_BACKEND.fullmatch(settings.EMAIL_BACKEND)
    return backend["esp"] if backend else ""


def tracking_webhook_configuration_error(esp: str) -> Exception | None:
    """Why anymail's tracking view of `esp` (a TRACKING_VIEWS key) cannot check calls, or None.

    Only what anymail finds when building the view: a missing setting it needs to verify the ESP's
    signatures (e.g. MAILGUN_WEBHOOK_SIGNING_KEY) or a missing package (boto3 for Amazon SES).
    """
    with warnings.catch_warnings():  # anymail's notices about an ESP are for its use, not this look
        warnings.simplefilter("ignore", AnymailWarning)
        return TRACKING_VIEWS[esp].view_class().configuration_error


def webhook_secrets() -> list[str]:
    """The basic-auth "user:password" credentials webhook calls must carry (ANYMAIL["WEBHOOK_SECRET"])."""
    value = get_anymail_setting("webhook_secret", default=[])
    return [value] if isinstance(value, str) and value else list(value or [])


@csrf_exempt
def tracking_webhook(request, esp: str):
    """POST /webhooks/<esp>/tracking/: 404 unless `esp` is the configured ESP; 400 when refused."""
    view = TRACKING_VIEWS.get(esp)
    if view is None or esp != tracking_esp():
        raise Http404(f"No {esp} tracking webhook here.")
    if not webhook_secrets():
        logger.error("The %s tracking webhook refused a call: set ANYMAIL_WEBHOOK_SECRET (user:password).", esp)
        return HttpResponseBadRequest("Webhook credentials are not configured.")
    return view(request)


@receiver(tracking, dispatch_uid="distributions.tracking_event_received")
def tracking_event_received(sender, event, esp_name, **kwargs):
    tracking_event_record(event=event, esp_name=esp_name)


@receiver(pre_send, dispatch_uid="distributions.message_about_to_send")
def message_about_to_send(sender, message, esp_name, **kwargs):
    message_tag_for_tracking(message=message, esp_name=esp_name)
