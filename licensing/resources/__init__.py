"""django-import-export resources: natural keys, scoped lookups, the audited bulk path (see base.py)."""
