"""{% change_link obj label %}: a link to obj's admin page for who may open it, else the label as text."""

from django import template

from distributions.admin import display

register = template.Library()


@register.simple_tag(takes_context=True)
def change_link(context, obj, *label_parts):
    """The label is obj itself, or the parts given, joined (`invitation.address " (" status ")"`)."""
    label = "".join(str(part) for part in label_parts) if label_parts else None
    return display.change_link(obj, context.get("request"), label)
