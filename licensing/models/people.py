"""History of people and groups: auth's User and Group, tracked like every licensing record (licensing.audit.people).

Registered here, where Django imports the licensing models, so the history tables belong to the licensing app.
"""

from django.contrib.auth.models import Group, User
from simple_history import register

from licensing.audit.people import EXCLUDED_FIELDS, PeopleHistoricalRecords, PersonHistory

register(
    User,
    app="licensing",
    records_class=PeopleHistoricalRecords,
    excluded_fields=EXCLUDED_FIELDS,
    m2m_fields=["groups", "user_permissions"],
    bases=[PersonHistory],
)
register(Group, app="licensing", records_class=PeopleHistoricalRecords, m2m_fields=["permissions"])
