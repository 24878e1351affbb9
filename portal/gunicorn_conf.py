"""gunicorn's settings for `make serve`, the Procfile's web and deploy/cpt-web.service (gunicorn -c
portal/gunicorn_conf.py): bind and workers come from the command line; this file removes the Server header,
which names the server software to every visitor, and keeps the objects of start-up out of garbage collection."""

import gc

from gunicorn.http import wsgi

_default_headers = wsgi.Response.default_headers


def _headers_without_server(self):
    return [line for line in _default_headers(self) if not line.lower().startswith("server:")]


# gunicorn has no setting for it (27.0): its response writes "Server: gunicorn" before the application's headers.
wsgi.Response.default_headers = _headers_without_server


def post_worker_init(worker):
    # What the worker imported at start-up lives as long as it does: frozen, the collector no longer walks those
    # 150,000 objects on every full collection (about 1.5 ms of CPU per request on the admin pages).
    gc.freeze()
