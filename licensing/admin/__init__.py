"""The admin: thin classes and pages that call the licensing modules; rules live there, scoping in licensing.access.

Django's autodiscovery imports this package; every module in it is imported here, so a new admin module
registers its classes without a line of its own.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
