"""Admin form pieces shared by task kinds: piped-text validation and key/value rows."""

from django import forms
from django.utils.html import format_html, format_html_join

from workflows.piping import validate
from workflows.validation import task_pipe_errors


class KeyValueWidget(forms.Widget):
    """Rows of name → value inputs; a few blank rows are always offered for new entries."""

    blank_rows = 3

    def __init__(self, *, name_label="Field name", value_label="Value", attrs=None):
        super().__init__(attrs)
        self.name_label = name_label
        self.value_label = value_label

    def value_from_datadict(self, data, files, name):
        names = data.getlist(f"{name}__name") if hasattr(data, "getlist") else []
        values = data.getlist(f"{name}__value") if hasattr(data, "getlist") else []
        return [[key, value] for key, value in zip(names, values) if key.strip() or value.strip()]

    def value_omitted_from_data(self, data, files, name):
        return f"{name}__name" not in data

    def render(self, name, value, attrs=None, renderer=None):
        rows = [list(row) for row in (value or [])] + [["", ""]] * self.blank_rows
        body = format_html_join(
            "",
            '<tr><td><input type="text" name="{}__name" value="{}" aria-label="{}" size="30"></td>'
            '<td><input type="text" name="{}__value" value="{}" aria-label="{}" size="60"></td></tr>',
            ((name, key, self.name_label, name, val, self.value_label) for key, val in rows),
        )
        return format_html(
            '<table class="key-value-rows"><thead><tr><th>{}</th><th>{}</th></tr></thead>'
            "<tbody>{}</tbody></table><p class=\"help\">Save and continue editing for more rows; "
            "clear both cells to remove a row.</p>",
            self.name_label,
            self.value_label,
            body,
        )


class KeyValueField(forms.Field):
    widget = KeyValueWidget

    def to_python(self, value):
        return [[str(key).strip(), str(val).strip()] for key, val in (value or [])]

    def validate(self, value):
        super().validate(value)
        names = [key for key, _ in value]
        if any(not key for key in names):
            raise forms.ValidationError("Every row with a value needs a field name.")
        duplicates = sorted({key for key in names if names.count(key) > 1})
        if duplicates:
            raise forms.ValidationError(f"Each field name may appear once: {', '.join(duplicates)}.")


class TaskConfigForm(forms.Form):
    """Base of every kind's config form: checks the piped text of every text field.

    `known_event_fields` is the workflow's field list when a WSDL declared it, so a typo in
    ${event://...} is caught on save instead of producing empty values at run time.
    `earlier_kinds` (the kinds of the tasks that run before this one) checks ${task://n/...};
    set it before validating when the task's place in the workflow is known.
    """

    def __init__(self, *args, known_event_fields=None, earlier_kinds=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.known_event_fields = known_event_fields
        self.earlier_kinds = earlier_kinds

    def _piping_errors(self, text):
        errors = validate(text or "", known_event_fields=self.known_event_fields)
        if self.earlier_kinds is not None:
            errors += task_pipe_errors(text or "", earlier_kinds=self.earlier_kinds)
        return errors

    def clean(self):
        cleaned = super().clean()
        for name, value in list(cleaned.items()):
            if isinstance(value, str):
                errors = self._piping_errors(value)
            elif isinstance(self.fields[name], KeyValueField):
                errors = [error for _, text in value for error in self._piping_errors(text)]
            else:
                continue
            for error in errors:
                self.add_error(name, error)
        return cleaned

    def to_config(self) -> dict:
        return dict(self.cleaned_data)


class SuggestingTextInput(forms.TextInput):
    """A text input with a datalist of suggestions (existing names), free text still allowed."""

    def __init__(self, *, suggestions, attrs=None):
        super().__init__(attrs)
        self.suggestions = suggestions  # a callable, so the list is read when the form renders

    def render(self, name, value, attrs=None, renderer=None):
        list_id = f"{name}__suggestions"
        attrs = {**(attrs or {}), "list": list_id}
        options = format_html_join("", '<option value="{}">', ((item,) for item in self.suggestions()))
        return format_html(
            '{}<datalist id="{}">{}</datalist>', super().render(name, value, attrs, renderer), list_id, options
        )
