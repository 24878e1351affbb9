"""The admin: configuration only. Rules live in the licensing modules, scoping in licensing.access."""

from licensing.admin import applications, counts, filings, licenses, organizations, people, rates  # noqa: F401
