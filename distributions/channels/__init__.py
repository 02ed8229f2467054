"""Channels an invitation goes out through. `email` builds and hands messages to Django's email
framework (any backend: SMTP, django-anymail, the local `outbox`); `sms` hands texts to SMS_BACKEND
(Twilio, or the local SMS outbox, `sms_outbox`).
"""
