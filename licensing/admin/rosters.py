"""People, rosters, their lines and each application's role mapping.

Rosters and their lines are written by roster imports only (licensing.resources.rosters): officers import, read
and annotate them; a line's kind follows the role mapping, which officers edit (saved through
services.role_mapping_save, which re-derives the counts of the application's rosters).
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from licensing import access, counting, imports, reconciliation_selectors, services, standing
from licensing.admin.base import ApplicationColumnsMixin, ScopedAdmin, WrittenByThePortalMixin
from licensing.admin.transfers import ImportForm
from licensing.admin.widgets import SafeAutocompleteSelect
from licensing.models import Application
from licensing.models.purges import RosterPurge
from licensing.models.rosters import Person, RoleMapping, Roster, RosterLine
from licensing.models.years import LICENSE_YEAR_VALIDATORS

ROSTER_RESOURCE = "rosters"  # its name in licensing.resources.catalog.RESOURCES


@admin.register(Person)
class PersonAdmin(ScopedAdmin):
    list_display = ["name", "identifier", "email", "entity", "country", "organization"]
    list_select_related = ["organization", "entity"]
    list_filter = ["country"]
    search_fields = ["=identifier", "name", "email"]
    search_help_text = "Search by exact identifier, name or e-mail."
    ordering = ["organization__name", "name", "pk"]
    autocomplete_fields = ["organization", "entity"]


@admin.register(RoleMapping)
class RoleMappingAdmin(ApplicationColumnsMixin, ScopedAdmin):
    list_display = ["role", "kind", "explanation", "system", "organization"]
    list_select_related = ["application__organization"]
    list_filter = ["kind"]
    search_fields = ["role", "application__name"]
    search_help_text = "Search by role or system name."
    ordering = ["application__name", "role", "pk"]
    autocomplete_fields = ["application"]

    def save_model(self, request, obj, form, change):
        # Every roster of the application follows the mapping: their lines' kinds and the counts derived from them.
        services.role_mapping_save(
            mapping=obj, actor=request.user, reason=self.change_reason_of(form, change), validate=False
        )


@admin.register(Roster)
class RosterAdmin(ApplicationColumnsMixin, ScopedAdmin):
    change_list_template = "admin/licensing/roster/change_list.html"
    list_display = ["taken_on", "source", "system", "license_year", "people_listed", "imported_by_name"]
    list_select_related = ["application__organization"]
    list_filter = ["license_year"]
    search_fields = ["source", "application__name", "file_name", "=file_sha256"]
    search_help_text = "Search by source, system name, file name or exact SHA-256."
    ordering = ["-taken_on", "-pk"]
    fields = [
        "application",
        "license_year",
        "taken_on",
        "source",
        "tally",
        "lines_link",
        "file_name",
        "file_sha256",
        "imported_by_name",
        "data_import",
        "is_directory",
        "people_purged_at",
        "notes",
    ]
    # Everything but the notes comes from the file and its import (the directory mark too: a directory derives no
    # count, so marking an application's roster afterwards would leave its count without its roster's meaning).
    readonly_fields = [name for name in fields if name != "notes"]
    actions = ["purge_people"]

    def has_purge_permission(self, request):
        # Administrators only: officers and auditors never see the action, and the service refuses them too.
        return access.sees_everything(request.user)

    @admin.action(
        description=f"Purge the people of the selected rosters older than the retention period "
        f"({settings.ROSTER_RETENTION_YEARS} years)",
        permissions=["purge"],
    )
    def purge_people(self, request, queryset):
        """Show what the purge removes; purge on the confirmation's second post (services.roster_people_purge)."""
        years = settings.ROSTER_RETENTION_YEARS
        try:
            plans = services.roster_people_purge(
                actor=request.user, older_than_years=years, rosters=queryset, dry_run=not request.POST.get("post")
            )
        except (PermissionDenied, ValidationError) as error:
            self.message_user(request, " ".join(getattr(error, "messages", [str(error)])), messages.ERROR)
            return None
        if not plans:
            self.message_user(
                request,
                f"None of the selected rosters is older than {years} years with people left to purge: nothing purged.",
                messages.INFO,
            )
            return None
        if request.POST.get("post"):
            for plan in plans:
                self.message_user(request, plan.summary(), messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Purge the people of old rosters",
            "subtitle": None,
            "opts": self.model._meta,
            "selected": sorted(queryset.values_list("pk", flat=True)),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "plans": plans,
            "years": years,
        }
        return TemplateResponse(request, "admin/licensing/roster/purge_confirmation.html", context)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(lines_count=Count("lines"))

    def has_add_permission(self, request):
        # A roster is made by importing its file (Roster lines > Import), which keeps the file's SHA-256.
        return False

    def changelist_view(self, request, extra_context=None):
        context = {
            "may_import_roster": imports.may_import(request.user, ROSTER_RESOURCE),
            "roster_import_url": reverse("admin:licensing_rosterline_import"),
        }
        return super().changelist_view(request, {**context, **(extra_context or {})})

    @admin.display(description="Lines", ordering="lines_count")
    def people_listed(self, obj):
        return obj.lines_count

    @admin.display(description="What it counts")
    def tally(self, obj):
        if obj.pk is None:
            return "-"
        tally = reconciliation_selectors.roster_tally(obj.pk)
        return counting.roster_explanation(taken_on=obj.taken_on, source=obj.source, tally=tally)

    @admin.display(description="Lines of the file")
    def lines_link(self, obj):
        if obj.pk is None:
            return "-"
        url = reverse("admin:licensing_rosterline_changelist") + f"?roster__exact={obj.pk}"
        return format_html('<a href="{}">{} lines</a>', url, obj.lines_count)


@admin.register(RosterPurge)
class RosterPurgeAdmin(WrittenByThePortalMixin, ScopedAdmin):
    """Retention purges, read only: made by the roster list's purge action or `manage.py purge_roster_people`."""

    list_display = ["purged_at", "organization", "taken_before", "roster_count", "people_purged", "purged_by_name"]
    list_select_related = ["organization"]
    list_filter = ["taken_before"]
    search_fields = ["organization__name", "rosters", "=digest_before"]
    search_help_text = "Search by organization, roster or exact digest."
    ordering = ["-purged_at", "-pk"]
    fields = [
        "organization",
        "purged_at",
        "purged_by_name",
        "retention_years",
        "taken_before",
        "rosters",
        "roster_count",
        "people_purged",
        "chains_purged",
        "digest_before",
        "digest_after",
    ]
    readonly_fields = fields


class RosterImportForm(ImportForm):
    """The upload form, with what a roster file does not say itself: whose roster it is, of which year, when taken
    and where from."""

    application = forms.ModelChoiceField(
        queryset=Application.objects.none(),
        label="Application",
        help_text="The system whose users the file lists.",
        error_messages={"required": "Choose the application whose users the file lists."},
    )
    license_year = forms.IntegerField(
        label="License year", validators=LICENSE_YEAR_VALIDATORS, help_text="The year whose user count it gives."
    )
    taken_on = forms.DateField(label="Taken on", help_text="When the list was exported, e.g. 2026-01-15.")
    source = forms.CharField(
        label="Source", max_length=200, help_text="Where the list comes from, e.g. 'Epic access list'."
    )

    directory = forms.BooleanField(
        label="Directory roster",
        required=False,
        help_text="The organization's staff directory or HR list of who works there, not the application's users: "
        "it derives no user count, and reconciliation lists the people of application rosters who are not on it.",
    )

    field_order = ["application", "license_year", "taken_on", "source", "directory", "file", "change_reason"]

    def __init__(self, *args, user, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        application = self.fields["application"]
        # Only applications the person manages are accepted; the autocomplete offers those the applications list
        # shows them (scoped like every admin autocomplete), searched by name or organization.
        application.queryset = access.restrict(
            Application.objects.select_related("organization").order_by("organization__name", "name"),
            user,
            access.CHANGE,
        )
        application.widget = SafeAutocompleteSelect(Roster._meta.get_field("application"), admin_site)
        application.widget.choices = application.choices
        application.label_from_instance = lambda app: f"{app.name} ({app.organization.name})"
        self.fields["taken_on"].validators = Roster._meta.get_field("taken_on").validators
        if not self.is_bound:
            self.initial.setdefault("license_year", standing.current_license_year())

    def parameters(self) -> dict:
        data = self.cleaned_data
        return {
            "application": data["application"].pk,
            "license_year": data["license_year"],
            "taken_on": data["taken_on"].isoformat(),
            "source": data["source"],
            "directory": data["directory"],
        }


@admin.register(RosterLine)
class RosterLineAdmin(WrittenByThePortalMixin, ScopedAdmin):
    list_display = ["line", "person_name", "identifier", "role", "kind", "roster", "system"]
    list_select_related = ["person", "roster__application"]
    list_filter = ["kind"]
    search_fields = ["=person__identifier", "person__name", "role"]
    search_help_text = "Search by exact identifier, name or role."
    ordering = ["roster", "line", "pk"]

    def lookup_allowed(self, lookup, value, request=None):
        # The roster page links to its lines; the rows stay scoped by get_queryset whatever the id.
        return lookup == "roster__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="Name", ordering="person__name")
    def person_name(self, obj):
        return obj.person.name

    @admin.display(description="Identifier", ordering="person__identifier")
    def identifier(self, obj):
        return obj.person.identifier

    @admin.display(description="System", ordering="roster__application__name")
    def system(self, obj):
        return obj.roster.application.name

    import_intro = (
        "A roster lists the people of one application, one line per person and role, as its access list or user "
        "report exports it. Each role counts as the application's role mapping says; roles it does not map are "
        "listed in the preview and must be mapped before the roster can be imported. The preview compares the "
        "people with the application's previous roster."
    )

    def import_form(self, request) -> RosterImportForm:
        return RosterImportForm(
            request.POST or None, request.FILES or None, user=request.user, admin_site=self.admin_site
        )

    def import_parameters(self, form) -> dict:
        return form.parameters()
