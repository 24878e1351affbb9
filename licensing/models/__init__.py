"""The licensing domain model, one module per concept.

Every module of this package is imported below, so Django finds a new model without a line here; the
names listed are the ones the code imports from `licensing.models` (add a new one when others need it).
"""

import importlib
import pkgutil

from licensing.models.applications import Application, DataFile, Vendor
from licensing.models.chains import ChainHead
from licensing.models.counts import BaseMetric, ProxyFactor, UserCount
from licensing.models.evidence import EvidenceFile
from licensing.models.filings import Filing
from licensing.models.imports import DataImport
from licensing.models.jobs import Job
from licensing.models.licenses import License
from licensing.models.memberships import Membership
from licensing.models.organizations import BaseMetrics, Contact, Organization
from licensing.models.rates import DataFileRate, RateSchedule
from licensing.models.reminders import ReminderSent

__all__ = [
    "Application",
    "BaseMetric",
    "BaseMetrics",
    "ChainHead",
    "Contact",
    "DataFile",
    "DataFileRate",
    "DataImport",
    "EvidenceFile",
    "Job",
    "Filing",
    "License",
    "Membership",
    "Organization",
    "ProxyFactor",
    "RateSchedule",
    "ReminderSent",
    "UserCount",
    "Vendor",
]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
