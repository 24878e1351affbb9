"""Post admin forms the way a browser does: start from what the page shows, change some fields."""


def _as_post(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else None
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return str(value)


def _add_form(data: dict, form) -> None:
    for name in form.fields:
        value = _as_post(form[name].value())
        if value is not None:
            data[form.add_prefix(name)] = value


def page_form_data(response) -> dict:
    """Every field of the admin add/change page in `response`, including inline management forms."""
    context = response.context
    data = {}
    _add_form(data, context["adminform"].form)
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        _add_form(data, formset.management_form)
        for form in formset.forms:
            _add_form(data, form)
    return data


def post_admin_form(client, url: str, changes: dict, *, inline_rows: dict | None = None):
    """GET `url`, apply `changes` (field name -> value, '' to clear), optionally fill extra inline rows, POST back.

    `inline_rows` maps an inline prefix (e.g. 'user_counts') to a list of dicts, one per new row.
    """
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    data = page_form_data(page)
    for prefix, rows in (inline_rows or {}).items():
        start = int(data[f"{prefix}-TOTAL_FORMS"])
        for offset, row in enumerate(rows):
            for name, value in row.items():
                data[f"{prefix}-{start + offset}-{name}"] = _as_post(value)
        data[f"{prefix}-TOTAL_FORMS"] = str(start + len(rows))
    for name, value in changes.items():
        converted = _as_post(value)
        if converted is None:
            data.pop(name, None)
        else:
            data[name] = converted
    return client.post(url, data)


def field_errors(response) -> dict:
    """Errors of the main admin form, by field, from a re-displayed page (empty when it saved)."""
    if response.status_code != 200 or response.context is None or "adminform" not in response.context:
        return {}
    return {name: list(errors) for name, errors in response.context["adminform"].form.errors.items()}


def inline_errors(response) -> list:
    if response.status_code != 200 or response.context is None:
        return []
    found = []
    for inline in response.context.get("inline_admin_formsets", []):
        for form in inline.formset.forms:
            found.extend(f"{name}: {message}" for name, messages in form.errors.items() for message in messages)
        found.extend(inline.formset.non_form_errors())
    return found
