"""Placeholder replaced by the feature's implementation (work in progress)."""

from django.http import Http404


def audit_trail_view(model_admin):
    def view(request, object_id):
        raise Http404
    return view


as_of_view = verify_view = audit_trail_view
