"""Widgets are drawn by Jinja2 from Django's own copies; what has no copy (the admin's widgets) by Django's engine."""

from django import forms
from django.conf import settings
from django.contrib.admin.widgets import AdminDateWidget
from django.forms.renderers import get_default_renderer
from django.template.backends.django import Template as DjangoTemplate
from django.template.backends.jinja2 import Template as Jinja2Template


class Sample(forms.Form):
    route = forms.ChoiceField(choices=[("direct", "Direct"), ("vendor", "Vendor's license")])
    signed_on = forms.DateField(widget=AdminDateWidget)


def test_the_portal_draws_forms_with_its_widget_renderer():
    assert settings.FORM_RENDERER == "portal.form_rendering.WidgetRenderer"


def test_django_widgets_come_from_jinja2_and_admin_widgets_from_django_templates():
    renderer = get_default_renderer()
    assert isinstance(renderer.get_template("django/forms/widgets/select.html"), Jinja2Template)
    assert isinstance(renderer.get_template("admin/widgets/date.html"), DjangoTemplate)


def test_a_form_draws_the_same_fields_escaped():
    html = Sample(initial={"route": "vendor"}).as_div()
    assert '<option value="vendor" selected>Vendor&#39;s license</option>' in html
    assert 'class="vDateField"' in html and 'name="signed_on"' in html
    escaped = Sample(data={"route": "<b>x</b>", "signed_on": "<script>"}).as_div()
    assert "<script>" not in escaped and "&lt;script&gt;" in escaped
