"""How forms and widgets are drawn: Django's own Jinja2 copies of its widget templates, the rest as usual.

An admin change page draws a few hundred widget templates (an organization page about 450); through the Django
template engine they cost about a third of the page's CPU, through Jinja2, which compiles each template to
Python, a small part of that (docs/benchmarks.md, "Under load"). Django ships the Jinja2 copies of its form
templates itself (django/forms/jinja2) and keeps them equal to the Django ones. Templates that have no Jinja2
copy (the admin's widgets, such as the date and related-object wrappers) are drawn by Django's engine.
"""

from pathlib import Path

import django.forms
from django.forms.renderers import BaseRenderer, DjangoTemplates
from django.template import TemplateDoesNotExist
from django.utils.functional import cached_property

JINJA2_TEMPLATES = Path(django.forms.__file__).parent / "jinja2"


class WidgetRenderer(BaseRenderer):
    """settings.FORM_RENDERER: Django's Jinja2 form templates first, Django templates for everything else."""

    @cached_property
    def jinja2(self):
        from django.template.backends.jinja2 import Jinja2

        # Only Django's own copies: no app directories, so no other template is drawn by Jinja2 by surprise.
        return Jinja2({"APP_DIRS": False, "DIRS": [JINJA2_TEMPLATES], "NAME": "djangoforms-jinja2", "OPTIONS": {}})

    @cached_property
    def django(self) -> DjangoTemplates:
        return DjangoTemplates()

    def get_template(self, template_name):
        try:
            return self.jinja2.get_template(template_name)
        except TemplateDoesNotExist:
            return self.django.get_template(template_name)
