"""The admin: thin classes and pages that call the licensing modules; rules live there, scoping in licensing.access."""

from licensing.admin import applications, counts, filings, licenses, organizations, people, rates  # noqa: F401
