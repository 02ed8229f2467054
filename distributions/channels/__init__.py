"""Channels an invitation goes out through. `email` builds and hands messages to Django's email
framework (any backend: SMTP, django-anymail, the local `outbox`); SMS channels come later.
"""
