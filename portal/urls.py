from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "CPT License Compliance Portal"
admin.site.site_title = "CPT compliance"
admin.site.index_title = "Applications, user counts and AMA licenses"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]
