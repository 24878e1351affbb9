from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """Django's admin with the portal's site (portal.admin_site.PortalAdminSite) as the default site."""

    default_site = "portal.admin_site.PortalAdminSite"

    def ready(self):
        super().ready()
        # Connects the sign-in stamps (idle timeout, second factor) before the first sign-in, test logins included.
        import portal.security  # noqa: F401
