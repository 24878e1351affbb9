"""Inline rows that render without a query per row.

Django's autocomplete widget looks up the selected record of every row on its own, and a plain select
re-reads its choices for every row; on a page of 30 applications that is 30 queries. The inline formsets
here load the selected labels (and the select choices) once for all rows.
"""

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple, RelatedFieldWidgetWrapper
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.backends.base.operations import BaseDatabaseOperations

# Every database here stores ids in 64 bits; SQLite raises OverflowError past that.
_ID_RANGE = range(-(2**63), 2**63)


def valid_ids(model, values) -> list:
    """The values that can be ids of `model` (a form re-displayed with parent=abc must not query with "abc")."""
    valid = []
    for value in values:
        try:
            number = model._meta.pk.to_python(value)
        except ValidationError:
            continue
        if number is not None and (not isinstance(number, int) or number in _ID_RANGE):
            valid.append(value)
    return valid


def within_storage(db_field, formfield):
    """An integer field refuses what its column cannot hold, by PostgreSQL's ranges on every database (SQLite has
    none of its own: past 64 bits it overflows into a 500, and it keeps 32-bit overflows PostgreSQL refuses)."""
    bounds = BaseDatabaseOperations.integer_field_ranges.get(db_field.get_internal_type())
    if bounds is not None and isinstance(formfield, forms.IntegerField):
        low, high = bounds
        # A model field with its own, tighter range (licensing.models.ranges) says it in its own words.
        if (formfield.min_value is None or formfield.min_value < low) and not _has_limit(db_field, MinValueValidator):
            formfield.validators.append(MinValueValidator(low))
        if (formfield.max_value is None or formfield.max_value > high) and not _has_limit(db_field, MaxValueValidator):
            formfield.validators.append(MaxValueValidator(high))
    return formfield


def _has_limit(db_field, kind) -> bool:
    """Whether the model field declares a range of its own of this kind, within what a column holds."""
    return any(isinstance(validator, kind) and type(validator) is not kind for validator in db_field.validators)


class _ValidSelection:
    def optgroups(self, name, value, attr=None):
        return super().optgroups(name, valid_ids(self.choices.queryset.model, value), attr)


class SafeAutocompleteSelect(_ValidSelection, AutocompleteSelect):
    """Django's autocomplete, re-displaying a form whose posted value is not an id without failing."""


class SafeAutocompleteSelectMultiple(_ValidSelection, AutocompleteSelectMultiple):
    """The same for many-to-many autocompletes."""


class SafeModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """A many-to-many field that refuses a value that cannot be an id before it reaches the database."""

    def clean(self, value):
        if isinstance(value, list | tuple):
            for item in value:
                if str(item) not in self.empty_values and not valid_ids(self.queryset.model, [item]):
                    raise ValidationError(
                        self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": item}
                    )
        return super().clean(value)


class SharedAutocompleteSelect(SafeAutocompleteSelect):
    """An autocomplete whose selected label the formset filled in (`labels`), so rendering makes no query."""

    labels: dict[str, str] | None = None

    def optgroups(self, name, value, attr=None):
        if self.labels is None:
            return super().optgroups(name, value, attr)
        default = (None, [], 0)
        if not self.is_required and not self.allow_multiple_selected:
            default[1].append(self.create_option(name, "", "", False, 0))
        selected = [str(v) for v in value if str(v) not in self.choices.field.empty_values]
        for index, pk in enumerate(selected):
            if pk in self.labels:
                default[1].append(self.create_option(name, pk, self.labels[pk], True, index))
        return [default]


def name_fields(form, *, row: int) -> None:
    """Give each field of an inline row an accessible name: a table row has column headings, not labels."""
    for field in form.fields.values():
        label = str(field.label or "").strip() or "Field"
        _unwrapped(field.widget).attrs.setdefault("aria-label", f"{label[:1].upper()}{label[1:]}, row {row}")


def _unwrapped(widget):
    return widget.widget if isinstance(widget, RelatedFieldWidgetWrapper) else widget


def share_choices(forms_) -> None:
    """Load what the relation fields of all `forms_` show in one query per field, and hand it to each row."""
    if not forms_:
        return
    for name, field in forms_[0].fields.items():
        if not isinstance(field, forms.ModelChoiceField) or isinstance(field, forms.ModelMultipleChoiceField):
            continue
        if field.widget.is_hidden:
            # The row's own id: rendered as a hidden value, its choices are never listed.
            continue
        widget = _unwrapped(field.widget)
        if isinstance(widget, SharedAutocompleteSelect):
            wanted = set(valid_ids(field.queryset.model, {str(form[name].value()) for form in forms_} - {"", "None"}))
            found = field.queryset.filter(pk__in=wanted) if wanted else []
            labels = {str(obj.pk): field.label_from_instance(obj) for obj in found}
            for form in forms_:
                _unwrapped(form.fields[name].widget).labels = labels
        elif not isinstance(widget, AutocompleteSelect):
            choices = list(field.choices)
            for form in forms_:
                form.fields[name].choices = choices
