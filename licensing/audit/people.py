"""History of who may do what: people (auth users) and groups, with the audit columns every other record has.

A person's history keeps no password hash: the password is left out, and a row says only *that* it was set
or reset (`password_changed`, listed as "password" among the changed fields). Logins (last_login) and hash
upgrades at login change nothing a person may do, so they write no row. Each row of a person also names the
organizations it concerns (`organization_ids`: the person's memberships then, or the one membership whose
change caused it), so it appears in those organizations' audit trails (licensing.audit.trail).
"""

import getpass

from django.db import models

from licensing.audit.records import AuditedHistoricalRecords, AuditedHistory

# Fields of a person the history never copies: the hash is a secret; the login time is not a permission.
EXCLUDED_FIELDS = ["password", "last_login"]
# The field named among a row's changed fields when the password was set or reset.
PASSWORD = "password"  # noqa: S105  # nosec B105 # a field name
# Saves that change only these fields write no history row (a login; a hash upgrade at login).
UNRECORDED_SAVES = ({"last_login"}, {"password"})
# The first version of the people and groups that existed before their history began (migration 0012).
PEOPLE_BASELINE_REASON = "Recorded when the history of people and groups began"


class PersonHistory(AuditedHistory):
    """The audit columns of a person's history row, plus what the person's own columns cannot say."""

    password_changed = models.BooleanField(default=False, editable=False)
    organization_ids = models.TextField(
        blank=True, editable=False, help_text="Comma-framed ids of the organizations the row concerns: ,3,7,"
    )

    class Meta:
        abstract = True

    def fill_extras(self, instance) -> None:
        """Set the password marker and the organizations concerned, before the row is hashed."""
        from licensing.models import Membership

        self.password_changed = bool(instance.__dict__.pop("_password_changed", False))
        given = instance.__dict__.pop("_audit_organization_ids", None)
        if given is None:
            given = Membership.objects.filter(user_id=instance.pk).values_list("organization_id", flat=True)
        ids = sorted(set(given))
        self.organization_ids = "," + ",".join(str(pk) for pk in ids) + "," if ids else ""

    def hashed_extras(self) -> dict:
        # Only when set, so that the hash of every other kind of row stays as it was.
        extras: dict = {}
        if self.password_changed:
            extras["password_changed"] = True
        if self.organization_ids:
            extras["organization_ids"] = self.organization_ids
        return extras

    def marked_changes(self) -> list[str]:
        return [PASSWORD] if self.password_changed else []


# A row written in a request with no reason attached: a page that asks none (a person's own password change).
IN_PORTAL_REASON = "Changed in the portal, where no reason is asked (e.g. a person's own password)"


def people_models() -> list:
    """auth's models whose history this module keeps (User, Group)."""
    from django.contrib.auth.models import Group, User

    return [User, Group]


def organization_rows(history_model, organization_id: int):
    """History rows on an organization's trail: stamped with it, or (a person's) concerning it."""
    if issubclass(history_model, PersonHistory):
        return history_model.objects.filter(organization_ids__contains=f",{int(organization_id)},")
    return history_model.objects.filter(organization_id=organization_id)


def organization_tracked_models() -> list:
    """Tracked models whose rows can be on an organization's trail: its own records, and people."""
    from licensing import ownership
    from licensing.audit.records import tracked_models

    return [
        model
        for model in tracked_models()
        if ownership.owned_by(model) is not None or issubclass(model.history.model, PersonHistory)
    ]


def outside_reason() -> str:
    """The reason on a row written with no person and no reason: a manage.py command or a script."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return f"Changed outside the portal (manage.py, e.g. createsuperuser or changepassword), by OS user '{who}'"


class PeopleHistoricalRecords(AuditedHistoricalRecords):
    """History for auth's models, kept in the licensing app (its tables, its migrations)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("app", "licensing")
        super().__init__(*args, **kwargs)

    def post_save(self, instance, created, using=None, **kwargs):
        update_fields = kwargs.get("update_fields")
        if not created and update_fields is not None and set(update_fields) in UNRECORDED_SAVES:
            if not instance.__dict__.pop("_password_changed", False):
                return
            instance._password_changed = True
        super().post_save(instance, created, using=using, **kwargs)

    def get_change_reason_for_object(self, instance, history_type, using):
        reason = super().get_change_reason_for_object(instance, history_type, using)
        if reason:
            return reason
        return outside_reason() if self.get_history_user(instance) is None else IN_PORTAL_REASON


def remember_password_change(sender, instance, raw=False, **kwargs):
    """Before a person is saved: note whether the stored hash is about to change (never the hash itself)."""
    if raw:
        return
    if instance.pk is None or instance._state.adding:
        instance._password_changed = instance.has_usable_password()
        return
    stored = sender._default_manager.filter(pk=instance.pk).values_list("password", flat=True).first()
    # A hash upgrade at login (check_password's setter) re-encodes the same password: not a change.
    upgraded = instance._password is None and kwargs.get("update_fields") == frozenset({"password"})
    instance._password_changed = stored is not None and stored != instance.password and not upgraded
