"""Scoping rules in licensing.access: who sees and changes which organizations' data."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from licensing import access, ownership, services
from licensing.models import (
    Application,
    BaseMetrics,
    Contact,
    License,
    Membership,
    Organization,
    RateSchedule,
    UserCount,
    Vendor,
)
from tests.factories import (
    ApplicationFactory,
    BaseMetricsFactory,
    LicenseFactory,
    OrganizationFactory,
    UserCountFactory,
    UserFactory,
    VendorFactory,
    member,
    record,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(org_a, org_b):
    """org_a > affiliate > grand-affiliate; org_b > its own affiliate; each with an application, count and license."""
    affiliate = OrganizationFactory(name="Alpha North Hospital", parent=org_a)
    grand = OrganizationFactory(name="Alpha North Clinic", parent=affiliate)
    b_affiliate = OrganizationFactory(name="Beta East", parent=org_b)
    orgs = {"a": org_a, "aff": affiliate, "grand": grand, "b": org_b, "b_aff": b_affiliate}
    apps, counts, licenses = {}, {}, {}
    for key, organization in orgs.items():
        apps[key] = ApplicationFactory(organization=organization, name=f"EHR {key}")
        counts[key] = UserCountFactory(application=apps[key])
        licenses[key] = LicenseFactory(application=apps[key])
        BaseMetricsFactory(organization=organization)
        record(Contact, organization=organization, role="primary", name=f"Contact {key}")
    return {"orgs": orgs, "apps": apps, "counts": counts, "licenses": licenses}


def _keys(objects, index) -> set[str]:
    by_pk = {obj.pk: key for key, obj in index.items()}
    return {by_pk[obj.pk] for obj in objects}


A_TREE = {"a", "aff", "grand"}
EVERYTHING = {"a", "aff", "grand", "b", "b_aff"}


def test_officer_sees_the_organization_its_affiliates_and_grand_affiliates(tree, officer):
    assert _keys(access.organizations(officer), tree["orgs"]) == A_TREE
    assert _keys(access.organizations(officer, access.CHANGE), tree["orgs"]) == A_TREE


@pytest.mark.parametrize(
    "model, index",
    [(Application, "apps"), (UserCount, "counts"), (License, "licenses")],
)
def test_officer_sees_the_data_of_the_whole_tree_only(tree, officer, model, index):
    visible = access.restrict(model.objects.all(), officer)
    assert _keys(visible, tree[index]) == A_TREE
    assert visible.count() == 3  # no duplicates from the OR of the three levels


def test_contacts_base_metrics_and_memberships_are_scoped(tree, officer):
    def org_keys(queryset):
        return _keys([obj.organization for obj in queryset], tree["orgs"])

    assert org_keys(access.restrict(Contact.objects.all(), officer)) == A_TREE
    assert org_keys(access.restrict(BaseMetrics.objects.all(), officer)) == A_TREE
    other = UserFactory()
    member(other, tree["orgs"]["b"], "officer")
    assert org_keys(access.restrict(Membership.objects.all(), officer)) == {"a"}


def test_officer_of_an_affiliate_does_not_see_its_parent(tree):
    person = UserFactory()
    member(person, tree["orgs"]["aff"], "officer")
    assert _keys(access.organizations(person), tree["orgs"]) == {"aff", "grand"}
    assert _keys(access.restrict(Application.objects.all(), person), tree["apps"]) == {"aff", "grand"}


def test_change_excludes_organizations_where_the_person_is_only_auditor(tree):
    person = UserFactory()
    member(person, tree["orgs"]["a"], "officer")
    member(person, tree["orgs"]["b"], "auditor")
    assert _keys(access.organizations(person, access.VIEW), tree["orgs"]) == EVERYTHING
    assert _keys(access.organizations(person, access.CHANGE), tree["orgs"]) == A_TREE
    assert _keys(access.restrict(License.objects.all(), person, access.CHANGE), tree["licenses"]) == A_TREE


def test_auditor_sees_but_changes_nothing(tree, auditor):
    assert _keys(access.organizations(auditor), tree["orgs"]) == A_TREE
    assert access.organizations(auditor, access.CHANGE).count() == 0
    assert access.restrict(Application.objects.all(), auditor, access.CHANGE).count() == 0


def test_superuser_sees_everything(tree):
    root = UserFactory(is_superuser=True)
    assert _keys(access.organizations(root), tree["orgs"]) == EVERYTHING
    assert _keys(access.organizations(root, access.CHANGE), tree["orgs"]) == EVERYTHING
    assert _keys(access.restrict(UserCount.objects.all(), root, access.CHANGE), tree["counts"]) == EVERYTHING


def test_person_without_memberships_sees_nothing(tree):
    assert access.organizations(UserFactory()).count() == 0
    assert access.restrict(Application.objects.all(), UserFactory()).count() == 0


@pytest.mark.parametrize("who", ["anonymous", "none", "inactive officer", "inactive superuser"])
def test_anonymous_and_inactive_see_nothing(tree, officer, who):
    if who == "anonymous":
        user = AnonymousUser()
    elif who == "none":
        user = None
    elif who == "inactive officer":
        user = officer
        user.is_active = False
        user.save()
    else:
        user = UserFactory(is_superuser=True, is_active=False)
    assert access.organizations(user).count() == 0
    assert access.restrict(License.objects.all(), user).count() == 0
    assert access.can(user, tree["apps"]["a"]) is False


def test_reference_data_is_shared_by_everyone_signed_in(tree, officer):
    VendorFactory.create_batch(2)
    for user in (officer, UserFactory()):
        assert access.restrict(Vendor.objects.all(), user).count() == 2
        assert access.restrict(RateSchedule.objects.all(), user).count() == 6
    for nobody in (AnonymousUser(), UserFactory(is_active=False)):
        assert access.restrict(Vendor.objects.all(), nobody).count() == 0
    assert access.is_scoped(Vendor) is False
    assert access.is_scoped(License) is True


def test_can_works_per_object(tree, officer, auditor):
    apps, licenses, counts = tree["apps"], tree["licenses"], tree["counts"]
    assert access.can(officer, apps["grand"]) is True
    assert access.can(officer, apps["grand"], access.CHANGE) is True
    assert access.can(officer, licenses["aff"], access.CHANGE) is True
    assert access.can(officer, counts["a"]) is True
    assert access.can(officer, apps["b"]) is False
    assert access.can(officer, licenses["b_aff"]) is False
    assert access.can(officer, tree["orgs"]["b"]) is False
    assert access.can(auditor, apps["a"]) is True
    assert access.can(auditor, apps["a"], access.CHANGE) is False
    assert access.can(officer, VendorFactory()) is True
    # Nothing to decide about is nothing allowed.
    assert access.can(officer, None) is False


def test_the_scope_is_read_once_per_person_however_many_objects_are_asked_about(
    tree, officer, django_assert_num_queries
):
    licenses = list(License.objects.select_related("application"))
    with access.remembered_scopes(), django_assert_num_queries(2):  # the memberships, the organizations they cover
        answers = {lic.application.name: access.can(officer, lic, access.CHANGE) for lic in licenses}
        assert access.can(officer, tree["orgs"]["b"]) is False
    assert answers["EHR grand"] is True and answers["EHR b"] is False


def test_outside_a_request_nothing_is_remembered(tree, officer, django_assert_num_queries):
    # A command or a job running for hours must not act on the scope it read at its start.
    with django_assert_num_queries(4):
        access.can(officer, tree["orgs"]["a"])
        access.can(officer, tree["orgs"]["a"])


@pytest.mark.parametrize("how", ["service", "record_save", "another_copy_of_the_user"])
def test_a_changed_membership_is_seen_at_once_within_a_request(tree, officer, how):
    with access.remembered_scopes():
        assert access.can(officer, tree["orgs"]["b"]) is False
        person = type(officer).objects.get(pk=officer.pk) if how == "another_copy_of_the_user" else officer
        if how == "record_save":
            services.record_save(Membership(user=person, organization=tree["orgs"]["b"], role="auditor"),
                                 actor=None, reason="Audit of Beta")  # fmt: skip
        else:
            member(person, tree["orgs"]["b"], "auditor")
        assert access.can(officer, tree["orgs"]["b"]) is True
        assert access.can(officer, tree["orgs"]["b"], access.CHANGE) is False


def test_moving_an_organization_under_another_tree_is_seen_at_once_within_a_request(tree, officer):
    loner = OrganizationFactory(name="Independent Clinic")
    with access.remembered_scopes():
        assert access.can(officer, loner) is False
        loner.parent = tree["orgs"]["a"]
        services.record_save(loner, actor=None, reason="Acquired by Alpha")
        assert access.can(officer, loner, access.CHANGE) is True


def test_organization_of_follows_the_declared_path(tree, django_assert_num_queries):
    assert ownership.organization_id_of(tree["licenses"]["grand"]) == tree["orgs"]["grand"].pk
    assert ownership.organization_id_of(tree["counts"]["b"]) == tree["orgs"]["b"].pk
    assert ownership.organization_id_of(tree["orgs"]["aff"]) == tree["orgs"]["aff"].pk
    fresh = License.objects.get(pk=tree["licenses"]["b"].pk)
    with django_assert_num_queries(1):  # one hop to the application's organization column
        assert ownership.organization_id_of(fresh) == tree["orgs"]["b"].pk
    licenses = list(License.objects.order_by("pk"))
    expected = [License.objects.get(pk=lic.pk).application.organization_id for lic in licenses]
    with django_assert_num_queries(1):
        assert ownership.organization_ids(License, licenses) == expected


def test_a_fourth_level_is_refused_so_scoping_stays_complete(tree):
    great = OrganizationFactory.build(parent=tree["orgs"]["grand"])
    with pytest.raises(ValidationError) as caught:
        great.full_clean()
    assert "parent" in caught.value.message_dict


def test_an_organization_cannot_be_its_own_ancestor(tree):
    top = tree["orgs"]["a"]
    top.parent = tree["orgs"]["grand"]
    with pytest.raises(ValidationError) as caught:
        top.full_clean()
    assert "parent" in caught.value.message_dict


def test_moving_a_tree_under_a_new_parent_keeps_every_descendant_in_scope(tree):
    # Putting org A (with an affiliate and a grand-affiliate) under a new health system makes
    # four levels. Either full_clean refuses it, as it refuses a fourth level added from below,
    # or the new parent's officer must see the whole tree, grand-affiliate included.
    system = OrganizationFactory(name="Gamma Health System")
    person = UserFactory()
    member(person, system, "officer")
    top = Organization.objects.get(pk=tree["orgs"]["a"].pk)
    top.parent = system
    try:
        top.full_clean()
    except ValidationError as refused:
        assert "parent" in refused.message_dict
        return
    top.save()
    visible = set(access.organizations(person).values_list("pk", flat=True))
    assert visible == {system.pk} | {tree["orgs"][key].pk for key in A_TREE}


# ---------------------------------------------------------------------------------------------
# Inside a request: the remembered scope's ids, as one parameter
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Membership.Role.OFFICER, Membership.Role.AUDITOR])
@pytest.mark.parametrize("action", [access.VIEW, access.CHANGE])
def test_a_request_scopes_by_its_remembered_ids_exactly_as_the_subquery_form(tree, role, action):
    person = UserFactory()
    member(person, tree["orgs"]["aff"], role)
    member(person, tree["orgs"]["b"], Membership.Role.AUDITOR)
    for model in (Organization, Application, UserCount, License, Contact, BaseMetrics, Membership):
        outside = set(access.restrict(model.objects.all(), person, action).values_list("pk", flat=True))
        with access.remembered_scopes():
            inside_queryset = access.restrict(model.objects.all(), person, action)
            sql = str(inside_queryset.query)
            assert "json_each" in sql or "ANY(" in sql, "a request scopes by the remembered ids"
            inside = set(inside_queryset.values_list("pk", flat=True))
        assert inside == outside, model.__name__


def test_the_among_lookup_takes_any_number_of_ids_as_one_parameter(tree):
    orgs = tree["orgs"]
    wanted = [orgs["a"].pk, orgs["grand"].pk]
    many = wanted + list(range(10**6, 10**6 + 40_000))  # more than SQLite's 32,766 parameters
    assert set(Organization.objects.filter(pk__among=many).values_list("pk", flat=True)) == set(wanted)
    assert not Organization.objects.filter(pk__among=[]).exists()
    assert set(Application.objects.filter(organization__pk__among=wanted).values_list("name", flat=True)) == {
        "EHR a",
        "EHR grand",
    }
