"""The "Renew for <next year>" action on licenses and organizations.

It asks first: a confirmation page lists what the renewal opens for each application (and what it
skips) and takes a reason; confirming calls licensing.services.renew, which writes the new year's
licenses and user counts in bulk with that reason, and the changelist reports the outcome in words.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.utils.functional import lazy

from licensing import access, services
from licensing.admin.base import this_year
from licensing.models import License, Organization

NOTHING_WRITTEN = "Nothing was renewed."


def next_year() -> int:
    return this_year() + 1


# Evaluated per request, so the action names the right year after January 1 (as base.with_year does).
renew_label = lazy(lambda: f"Renew for {next_year()}", str)


class RenewalForm(forms.Form):
    reason = forms.CharField(
        label="Reason for this renewal",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Kept in the history of every license and user count the renewal opens; auditors read it there.",
        error_messages={"required": "Say why you are renewing, e.g. 'Annual renewal for the new CPT release'."},
    )


@admin.action(description=renew_label(), permissions=["change"])
def renew_for_next_year(modeladmin, request, queryset):
    """Renew the selected licenses' applications, or the selected organizations' applications, for next year."""
    model = modeladmin.model
    opts = model._meta
    plural = str(opts.verbose_name_plural)
    if not request.user.has_perms(["licensing.add_license", "licensing.add_usercount"]):
        refusal = f"Renewing opens licenses and user counts, which you may not add. {NOTHING_WRITTEN}"
        modeladmin.message_user(request, refusal, messages.ERROR)
        return None
    refusal = _refusal(request, queryset, plural)
    if refusal:
        modeladmin.message_user(request, refusal, messages.ERROR)
        return None
    selected = sorted(queryset.values_list("pk", flat=True))
    selection = {"licenses" if model is License else "organizations": selected}
    to_year = next_year()
    try:
        plan = services.renewal_plan(**selection, to_year=to_year, actor=request.user)
    except (PermissionDenied, ValidationError) as error:
        modeladmin.message_user(request, _words(error), messages.ERROR)
        return None
    if not plan.licenses and not plan.counts:
        modeladmin.message_user(request, plan.summary(), messages.INFO)
        _report_problems(modeladmin, request, plan)
        return None
    form = RenewalForm(request.POST if request.POST.get("post") else None, initial={"reason": plan.reason})
    if form.is_valid():
        try:
            reason = form.cleaned_data["reason"]
            result = services.renew(**selection, to_year=to_year, actor=request.user, reason=reason)
        except (PermissionDenied, ValidationError) as error:
            modeladmin.message_user(request, _words(error), messages.ERROR)
            return None
        modeladmin.message_user(request, result.summary(), messages.SUCCESS)
        _report_problems(modeladmin, request, result)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Renew for {to_year}",
        "subtitle": None,
        "opts": opts,
        "selected": selected,
        "action_name": "renew_for_next_year",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "plan": plan,
        "form": form,
        "to_year": to_year,
        "affiliates_note": model is Organization,
    }
    return TemplateResponse(request, "admin/licensing/renew_confirmation.html", context)


def _refusal(request, queryset, plural: str) -> str:
    """Why the selection cannot be renewed as a whole (ids the person cannot see, or may only view), or ''."""
    posted = set(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME))
    visible = set(queryset.values_list("pk", flat=True))
    if request.POST.get("select_across") != "1" and len(posted) > len(visible):
        return (
            f"{len(posted) - len(visible)} of the {len(posted)} selected {plural} were not found, or belong to an "
            f"organization you do not have access to. {NOTHING_WRITTEN}"
        )
    if not visible:
        return f"No {plural} were selected. Tick the ones to renew, then choose the action again."
    view_only = queryset.exclude(pk__in=access.restrict(queryset, request.user, access.CHANGE).values("pk"))
    names = [str(obj) for obj in view_only[:6]]
    if not names:
        return ""
    listed = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return (
        f"You may only view {view_only.count()} of the selected {plural} ({listed}): deselect them and try again. "
        f"{NOTHING_WRITTEN}"
    )


def _report_problems(modeladmin, request, result: services.RenewalResult) -> None:
    for problem in result.problems:
        modeladmin.message_user(request, problem, messages.WARNING)


def _words(error: PermissionDenied | ValidationError) -> str:
    return " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
