"""SQLite under concurrent saves: transactions that may write take the write lock when they begin.

With ATOMIC_REQUESTS a save is one transaction that reads first and writes later. Begun DEFERRED, it holds
only a read snapshot until its first write; if another request wrote meanwhile, SQLite cannot let it wait
(the snapshot is already out of date) and answers "database is locked" at once, a 500. Begun IMMEDIATE
(settings: OPTIONS["transaction_mode"]) it waits up to the busy timeout for the other save to commit, then
reads what that save wrote. The cost: an IMMEDIATE transaction holds the single write lock for its whole
length, so read-only requests, which would otherwise queue behind every save and every long page (a PDF,
an export), are begun DEFERRED again by the middleware below; under WAL they read while a save writes.
"""

from django.db import connections

# Requests that only read: Django's safe methods (the portal changes nothing on them).
READ_ONLY_METHODS = ("GET", "HEAD", "OPTIONS")


class ReadOnlyRequestsDeferred:
    """Begins the request transaction of a read-only request DEFERRED, so it never waits for the write lock."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in READ_ONLY_METHODS:
            return self.get_response(request)
        deferred = []
        for connection in connections.all():
            if connection.vendor == "sqlite" and connection.settings_dict["OPTIONS"].get("transaction_mode"):
                # Connecting reads the mode from the settings again, so connect first, then set it.
                connection.ensure_connection()
                connection.transaction_mode = None
                deferred.append(connection)
        try:
            return self.get_response(request)
        finally:
            for connection in deferred:
                connection.transaction_mode = connection.settings_dict["OPTIONS"]["transaction_mode"].upper()
