"""Django model permissions per HTTP method, declared by each view."""

from rest_framework import permissions


class HasModelPermissions(permissions.BasePermission):
    """The token's user must hold every permission the view lists for the method in
    `required_permissions` ({"GET": ("distributions.view_survey",), ...}); a method the view does
    not list needs no more than a valid token."""

    message = "The token's user lacks a permission this call needs: {missing}. Ask an administrator to grant it."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        method = "GET" if request.method == "HEAD" else request.method  # HEAD is GET without the body
        required = view.required_permissions.get(method, ())
        missing = [permission for permission in required if not request.user.has_perm(permission)]
        if missing:
            self.message = self.__class__.message.format(missing=", ".join(missing))
            return False
        return True
