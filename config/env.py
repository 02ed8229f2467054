"""Strict helpers for reading settings from the environment.

A variable set to nothing (`NAME=`, as .env.example lists the optional ones) means its default, as
if it were not set at all. A value the product cannot work with is refused with ImproperlyConfigured
naming the variable, so every process stops at start instead of failing later.
"""

import os
from urllib.parse import quote, urlsplit, urlunsplit

import idna
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _given(name: str) -> str | None:
    """The variable's value, or None when it is unset or set to nothing."""
    raw = os.environ.get(name)
    return None if raw is None or not raw.strip() else raw


def env_str(name: str, default: str = "") -> str:
    raw = _given(name)
    return default if raw is None else raw


def env_url(name: str, default: str = "") -> str:
    """A URL in the ASCII form headers and links need, without a trailing slash: a non-ASCII host
    in DNS form (IDNA 2008 A-labels, https://bäckerei.de -> https://xn--bckerei-5wa.de) and a
    non-ASCII path percent-encoded. An email header cannot hold it otherwise: List-Unsubscribe's
    URL became an RFC 2047 encoded word, which no mailbox provider opens."""
    url = env_str(name, default).strip().rstrip("/")
    if url.isascii():
        return url
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host, colon, port = hostport.partition(":")  # a non-ASCII host is no IPv6 literal
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as error:
            raise ImproperlyConfigured(f"{name}'s host {host} has no DNS form (IDNA 2008: {error})") from None
    netloc = f"{userinfo}{at}{host}{colon}{port}" if not hostport.startswith("[") else parts.netloc
    return urlunsplit(parts._replace(netloc=netloc, path=quote(parts.path, safe="/%:@!$&'()*+,;=~")))


def env_bool(name: str, default: bool = False) -> bool:
    raw = _given(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number between `minimum` and `maximum` (inclusive, each None for no bound)."""
    raw = _given(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, not {value}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]
