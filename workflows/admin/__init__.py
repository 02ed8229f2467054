"""Workflows in the admin: build a workflow (event URL, WSDL, conditions, tasks).

Its history (runs, the inbound log) is shown by reporting's Workflow Reporting admins.
"""

from django.contrib import admin

from workflows.admin import history, task, workflow  # noqa: F401  (registers the model admins)

admin.site.site_header = "Salesforce surveys"
admin.site.site_title = "Salesforce surveys"
admin.site.index_title = "Administration"
# The product has no public home page: the admin's "View site" link would lead to a 404.
admin.site.site_url = None
