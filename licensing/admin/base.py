"""What every licensing admin shares: organization scoping, read-only history, page-level loading."""

from decimal import Decimal

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.functional import lazy
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from licensing import access, standing

this_year = standing.current_license_year
# Column headings name the year they show, evaluated per request so they roll over on January 1.
with_year = lazy(lambda text: f"{text} {this_year()}", str)

# Deleting licensing records in bulk would erase evidence; single deletes stay possible for superusers.
admin.site.disable_action("delete_selected")
# Lists carry many columns; the sidebar would push them off screen.
admin.site.enable_nav_sidebar = False


def dollars(amount: Decimal | None, *, estimate: bool = False) -> str:
    if amount is None:
        return "-"
    text = f"${amount:,.2f}"
    return f"{text} (est.)" if estimate else text


def position_badge(status) -> str:
    return format_html('<span class="position position-{}" title="{}">{}</span>', status.position, status.reason, status.label)


class ReadOnlyHistoryMixin:
    """History is evidence: simple-history's per-version form (which can revert) is closed to everyone."""

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        raise PermissionDenied("Past versions cannot be restored or edited. Make a new change instead; history keeps both.")


class PageChangeList(ChangeList):
    """A changelist that lets its admin load what the columns need for the whole page at once."""

    def get_results(self, request):
        super().get_results(request)
        self.model_admin.prepare_page(request, self.result_list)


class ScopedAdmin(ReadOnlyHistoryMixin, SimpleHistoryAdmin):
    """Admin for an organization's data: every queryset, choice and object goes through licensing.access."""

    show_full_result_count = False
    list_per_page = 100
    list_max_show_all = 500
    view_on_site = False

    def get_changelist(self, request, **kwargs):
        return PageChangeList

    def prepare_page(self, request, objects) -> None:
        """Hook: load per-page data (counts, licenses, rates) in bulk before the columns render."""

    def get_queryset(self, request):
        return access.restrict(super().get_queryset(request), request.user, access.VIEW)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            # Out-of-scope and missing objects look the same, so ids of other organizations reveal nothing.
            raise Http404("No such record, or it belongs to an organization you do not have access to.")
        return obj

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or access.can(request.user, obj, access.CHANGE)
        )

    def has_delete_permission(self, request, obj=None):
        # Records are corrected or superseded, not deleted; only a superuser may remove a mistaken entry.
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.remote_field.model
        if access.is_scoped(related):
            kwargs["queryset"] = access.restrict(related._default_manager.all(), request.user, access.CHANGE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        related = db_field.remote_field.model
        if access.is_scoped(related):
            kwargs["queryset"] = access.restrict(related._default_manager.all(), request.user, access.VIEW)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def history_view(self, request, object_id, extra_context=None):
        # simple-history falls back to the history of objects outside get_queryset(); refuse those.
        if not self.get_queryset(request).filter(pk=object_id).exists() and not request.user.is_superuser:
            raise Http404("No such record, or it belongs to an organization you do not have access to.")
        return super().history_view(request, object_id, extra_context)


class ApplicationYearAdmin(ScopedAdmin):
    """Admin for records of one application in one license year (counts, licenses): shows their standing."""

    def prepare_page(self, request, objects):
        applications = list({obj.application_id: obj.application for obj in objects}.values())
        by_pair = standing.standings(applications, {obj.license_year for obj in objects})
        for obj in objects:
            obj.standing = by_pair[(obj.application_id, obj.license_year)]

    def standing_of(self, obj) -> standing.Standing:
        if not hasattr(obj, "standing"):
            obj.standing = standing.standings([obj.application], [obj.license_year])[(obj.application_id, obj.license_year)]
        return obj.standing

    @admin.display(description="System", ordering="application__name")
    def system(self, obj):
        return obj.application.name

    @admin.display(description="Organization", ordering="application__organization__name")
    def organization(self, obj):
        return obj.application.organization

    @admin.display(description="Position")
    def position(self, obj):
        return position_badge(self.standing_of(obj).position) if obj.pk else "-"


class ScopedInline(admin.TabularInline):
    """An inline under a scoped parent: editable only by people who may change the parent."""

    extra = 0
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and (obj is None or access.can(request.user, obj, access.CHANGE))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or access.can(request.user, obj, access.CHANGE)
        )

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.remote_field.model
        if access.is_scoped(related):
            kwargs["queryset"] = access.restrict(related._default_manager.all(), request.user, access.CHANGE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReferenceAdmin(ReadOnlyHistoryMixin, SimpleHistoryAdmin):
    """Admin for reference data shared by every organization (rates, factors, vendors, data files)."""

    list_per_page = 100
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)
