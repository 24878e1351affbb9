"""gunicorn settings of benchmarks/load.py (`gunicorn -c benchmarks/load_gunicorn.py`).

A portal that has served a while has imported its URLconf and WeasyPrint and loaded the PDF fonts in every
worker; a 60-second run should measure that, not each worker's first requests. Then, as portal/gunicorn_conf.py
does, the start-up objects are frozen out of garbage collection.
"""

import gc


def post_worker_init(worker):
    from django.urls import get_resolver

    from licensing import pdf

    get_resolver().url_patterns  # noqa: B018 (imports every admin module, as the first request would)
    pdf.font_config()
    gc.freeze()
