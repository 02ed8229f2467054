"""X-API-TOKEN authentication: the token acts as its user."""

from rest_framework import authentication, exceptions

from api.selectors import api_token_for_secret
from api.services import api_token_mark_used

HEADER = "X-API-TOKEN"


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """request.user is the token's user, request.auth the ApiToken. A request without the header is
    anonymous (every resource then answers 401); a wrong, revoked or inactive user's token is 401."""

    def authenticate(self, request):
        secret = request.headers.get(HEADER, "")
        if not secret:
            return None
        token = api_token_for_secret(secret) if secret.isascii() else None
        if token is None:
            raise exceptions.AuthenticationFailed(
                f"The {HEADER} header holds no valid token: it may be mistyped or revoked. "
                "Create one in the admin (API tokens) or with: python manage.py create_api_token USERNAME"
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is inactive: ask an administrator to activate it.")
        api_token_mark_used(token=token)
        return token.user, token

    def authenticate_header(self, request):
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 to a call without a valid token.
        return f'{HEADER} realm="API"'
