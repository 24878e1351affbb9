"""`link_pages`: a stored message that names a portal page by its address "(/admin/...)" shows it as a link.

Import reports are kept as plain text (they outlive the request and go into exports), so the address is in the
words; the page turns it into a link after escaping the message, so nothing in a file can inject markup.
"""

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()

# "the role mappings page (/admin/licensing/rolemapping/add/?application=5)": "the ... page" becomes the link.
PAGE = re.compile(r"(the [\w-]+(?: [\w-]+){0,2} page) \((/admin/[^\s()<>\"']*)\)")


@register.filter
def link_pages(message: str) -> str:
    # The message is escaped before the links are put in.
    return mark_safe(PAGE.sub(r'<a href="\2">\1</a>', escape(message)))  # noqa: S308  # nosec B308 B703
