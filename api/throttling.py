"""Rate limits per token (DRF throttling): API_RATE_LIMIT calls per token, e.g. "300/min".

Counted in the "api_throttle" cache, a database table (settings.CACHES), so every web process and
machine counts against the same limit. Past it, a call gets 429 with Retry-After (seconds).
"""

from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle


class TokenRateThrottle(SimpleRateThrottle):
    scope = "api_token"
    cache = caches["api_throttle"]

    def get_cache_key(self, request, view):
        if request.auth is None:
            return None  # refused anyway (401): not counted
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
