"""The audit trail: every history row stamped with its organization, who, what changed, and a hash chain.

    records       the history record class (simple-history plus the audit columns) and which models have it
    hashing       the canonical content of a row and its SHA-256
    links         many-to-many links, as recorded on history rows and as they are now
    stamping      filling a row's audit columns; chain heads
    bulk          bulk inserts and updates that write stamped history (simple-history's own bulk helpers do not)
    signals       the receivers, connected with explicit senders in LicensingConfig.ready()
    diffs         history rows in words: "Status: Needed -> Active"
    verification  walking the chains for tampering
    trail         an organization's audit trail: every change to it and its records
    as_of         an organization rebuilt from history at a past moment
    exports       CSV/XLSX cells, with the one formula-escaping rule

Nothing here imports licensing.models at import time: the models import `records` while they are defined.
"""
