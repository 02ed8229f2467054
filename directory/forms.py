"""Form pieces for embedded data, shared by the contact admin and workflow task forms."""

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join


class KeyValueWidget(forms.Widget):
    """Rows of name → value inputs, so nobody types JSON; a few blank rows are always offered.

    Values are textareas, so multi-line values survive an edit. The rows post as two lists,
    `<name>__name` and `<name>__value`.
    """

    blank_rows = 3

    def __init__(self, *, name_label="Name", value_label="Value", attrs=None, value_attrs=None):
        super().__init__(attrs)
        self.name_label = name_label
        self.value_label = value_label
        self.value_attrs = value_attrs or {}  # extra attributes of every value textarea

    def value_from_datadict(self, data, files, name):
        rows = zip(data.getlist(f"{name}__name"), data.getlist(f"{name}__value"))
        return [[key, value] for key, value in rows if key.strip() or value.strip()]

    def value_omitted_from_data(self, data, files, name):
        return f"{name}__name" not in data

    def format_value(self, value):
        if isinstance(value, dict):
            return [[key, str(val)] for key, val in sorted(value.items())]
        return [list(row) for row in value or []]

    def render(self, name, value, attrs=None, renderer=None):
        rows = self.format_value(value) + [["", ""]] * self.blank_rows
        body = format_html_join(
            "",
            '<tr><td><input type="text" name="{}__name" value="{}" aria-label="{}" size="30"></td>'
            '<td><textarea name="{}__value" rows="1" cols="60" aria-label="{}"{}>{}</textarea></td></tr>',
            ((name, key, self.name_label, name, self.value_label, flatatt(self.value_attrs), val) for key, val in rows),
        )
        return format_html(
            '<div class="key-value-rows">'
            '<table class="key-value-rows"><thead><tr><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>'
            '<p class="help">Clear both cells to remove a row; save and continue editing for more rows.</p></div>',
            self.name_label,
            self.value_label,
            body,
        )


class KeyValueField(forms.Field):
    """Ordered [name, value] rows; each name once."""

    widget = KeyValueWidget

    def to_python(self, value):
        if isinstance(value, dict):
            value = value.items()
        return [[str(key).strip(), str(val)] for key, val in (value or [])]

    def validate(self, value):
        super().validate(value)
        names = [key for key, _ in value]
        if not all(names):
            raise forms.ValidationError("Every row with a value needs a name.")
        duplicates = sorted({key for key in names if names.count(key) > 1})
        if duplicates:
            raise forms.ValidationError(f"Each name may appear once: {', '.join(duplicates)}.")
