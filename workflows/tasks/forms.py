"""Admin form pieces shared by task kinds: piped-text validation, the piped-text menu and suggestions."""

from collections.abc import Collection, Mapping

from django import forms
from django.utils.html import format_html, format_html_join

from directory.forms import KeyValueField
from workflows.piping import SCHEMES, tokens, validate
from workflows.salesforce.values import ValueKind, kind_of
from workflows.validation import task_pipe_errors

PIPED_TEXT_ATTRIBUTE = "data-piped-text"
PIPED_TEXT_MEDIA = forms.Media(js=["workflows/piped_text_menu.js"], css={"all": ["workflows/piped_text_menu.css"]})


def piped_text_attrs(schemes: Collection[str] = SCHEMES) -> dict[str, str]:
    """The attribute that gives a text input or textarea the piped-text menu: the browser script
    adds a button beside it that opens the menu's groups of these schemes (see workflows.piping_menu)."""
    return {PIPED_TEXT_ATTRIBUTE: " ".join(scheme for scheme in sorted(SCHEMES) if scheme in schemes)}


class PipedTextWidget:
    """Mixed into a text widget: the field takes piped text and offers the piped-text menu.

    Any field can opt in by using PipedTextInput or PipedTextarea (or this mixin on its own widget
    class); `schemes` limits the menu to the tokens the field accepts (conditions: event, date).
    The page must also carry the menu's data (see workflows.admin.piping)."""

    def __init__(self, attrs=None, *, schemes: Collection[str] = SCHEMES):
        super().__init__({**(attrs or {}), **piped_text_attrs(schemes)})

    @property
    def media(self):
        return PIPED_TEXT_MEDIA


class PipedTextInput(PipedTextWidget, forms.TextInput):
    pass


class PipedTextarea(PipedTextWidget, forms.Textarea):
    pass


class TaskConfigForm(forms.Form):
    """Base of every kind's config form: checks the piped text of every text field.

    `known_event_fields` is the workflow's field list when a WSDL declared it, so a typo in
    ${event://...} is caught on save instead of producing empty values at run time; as a mapping
    of each field to its XSD type (Workflow.known_fields), it also lets a kind refuse a field
    that can never give what it needs (`declared_kind_error`).
    `earlier_kinds` (the kinds of the tasks that run before this one) checks ${task://n/...};
    set it before validating when the task's place in the workflow is known.
    """

    def __init__(self, *args, known_event_fields=None, earlier_kinds=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.known_event_fields = known_event_fields
        self.earlier_kinds = earlier_kinds
        for form_field in self.fields.values():
            if isinstance(form_field, KeyValueField):  # the values of name/value rows take piped text
                form_field.widget.value_attrs = piped_text_attrs()

    @property
    def media(self):
        return super().media + PIPED_TEXT_MEDIA

    def _piping_errors(self, text):
        errors = validate(text or "", known_event_fields=self.known_event_fields)
        if self.earlier_kinds is not None:
            errors += task_pipe_errors(text or "", earlier_kinds=self.earlier_kinds)
        return errors

    def declared_kind_error(self, value: str, *, label: str, accepted: Collection[ValueKind], needs: str) -> str | None:
        """Why `value`, when it is a single ${event://Field} of a field the WSDL declares with a
        type of another kind than `accepted` (text fields are always accepted: they may hold
        anything), can never give what the field `label` needs (`needs`, e.g. "an email address");
        None otherwise (literal text, other piped text, a field of no declared type)."""
        if not isinstance(self.known_event_fields, Mapping):
            return None
        found = tokens(value.strip())
        if len(found) != 1 or found[0].raw != value.strip() or found[0].scheme != "event":
            return None
        xsd_type = self.known_event_fields.get(found[0].path) or ""
        kind = kind_of(xsd_type)
        if kind is None or kind == ValueKind.TEXT or kind in accepted:
            return None
        return (
            f"{label}: {found[0].raw} is a {kind} field (xsd:{xsd_type} in the WSDL), never {needs}, "
            "so every run would fail: pipe the field that holds it."
        )

    def clean(self):
        cleaned = super().clean()
        for name, value in list(cleaned.items()):
            if isinstance(value, str):
                errors = self._piping_errors(value)
            elif isinstance(self.fields[name], KeyValueField):
                errors = _names_differing_by_case(value) + [
                    error for _, text in value for error in self._piping_errors(text)
                ]
            else:
                continue
            for error in errors:
                self.add_error(name, error)
        return cleaned

    def to_config(self) -> dict:
        return dict(self.cleaned_data)


def _names_differing_by_case(rows: list) -> list[str]:
    """Rows of one task whose names differ only by case (Store, store): each is saved as its own
    embedded-data field, and a survey reads only the one spelled as it declares."""
    spellings: dict[str, list[str]] = {}
    for name, _ in rows:
        spellings.setdefault(name.casefold(), []).append(name)
    return [
        f"{' and '.join(names)} differ only by case: each would be saved as its own field, and a survey reads "
        "only the spelling it declares. Keep one row."
        for names in spellings.values()
        if len(set(names)) > 1
    ]


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
