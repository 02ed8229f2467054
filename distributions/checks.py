"""System checks (`manage.py check`, and every command that starts the web server or a worker)
for settings that would put links into invitations that cannot work."""

from ipaddress import ip_address
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Warning

LOOPBACK_HOSTS = {"localhost"}


def check_public_base_url(app_configs=None, **kwargs) -> list:
    """PUBLIC_BASE_URL starts every survey and opt-out link in an email.

    Error (distributions.E001) unless it is an absolute http(s) URL with a host: a link without one
    opens nothing. Warning (distributions.W001) when it is plain http on a host other than loopback:
    mailbox providers act on one-click unsubscribe only at an https URL (RFC 8058 section 3.1).
    """
    value = settings.PUBLIC_BASE_URL
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        return [
            Error(
                f"PUBLIC_BASE_URL is {value!r}, not an address recipients can open: survey and opt-out links in "
                "emails start with it.",
                hint="Set PUBLIC_BASE_URL to the https address this site is served at, e.g. https://surveys.example.com.",
                id="distributions.E001",
            )
        ]
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return [
            Warning(
                f"PUBLIC_BASE_URL is {value}, plain http: survey links go over an unencrypted connection and "
                "mailbox providers ignore one-click unsubscribe (RFC 8058 asks for an https URL).",
                hint="Serve the site over https and set PUBLIC_BASE_URL to its https address.",
                id="distributions.W001",
            )
        ]
    return []


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
