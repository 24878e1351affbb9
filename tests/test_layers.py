"""The layers hold: rules never query, the admin site is the portal's, and no hand lists of models remain."""

import ast
import re
from pathlib import Path

from django.contrib import admin

from portal.admin_site import PortalAdminSite

ROOT = Path(__file__).resolve().parent.parent
RULES = ["counting", "royalty", "position", "workflow", "evidence"]


def runtime_imports(path: Path) -> set[str]:
    """Modules a file imports when it runs (imports under `if TYPE_CHECKING:` are for types only)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for statement in block.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_rule_modules_are_pure():
    for name in RULES:
        path = ROOT / "licensing" / f"{name}.py"
        text = path.read_text()
        imports = runtime_imports(path)
        assert not any(module.startswith(("licensing.models", "licensing.admin", "django.db")) for module in imports), (
            name,
            imports,
        )
        for forbidden in (".objects", "_default_manager", "connection.", "select_related(", "prefetch_related("):
            assert forbidden not in text, (
                f"licensing/{name}.py reads the database ({forbidden}); load it in standing.py"
            )


def test_the_purity_scan_sees_a_runtime_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from licensing.models import A\n")
    assert "licensing.models" not in runtime_imports(probe)
    probe.write_text("from licensing.models import A\n")
    assert "licensing.models" in runtime_imports(probe)


def test_the_admin_is_the_portals_site():
    assert isinstance(admin.site._wrapped if hasattr(admin.site, "_wrapped") else admin.site, PortalAdminSite)
    assert admin.site.site_header == "CPT License Compliance Portal"
    assert "delete_selected" not in dict(admin.site.actions)
    assert admin.site.enable_nav_sidebar is False


def test_no_module_keeps_a_hand_written_list_of_organization_models():
    # The names of the old lists; the declarations on the models replaced them all.
    retired = ["ORGANIZATION_PATHS", "RECORD_TYPES", "REFERENCE_MODELS", "REASON_REQUIRED", "MONEY_FIELDS"]
    for path in [*(ROOT / "licensing").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]:
        if path.name == "test_layers.py" or "migrations" in path.parts:
            continue
        text = path.read_text()
        assert not [name for name in retired if name in text], path


def test_the_readme_shows_every_screenshot_the_journeys_take():
    journeys = "".join(path.read_text() for path in (ROOT / "tests" / "browser").glob("test_*.py"))
    taken = set(re.findall(r'"([\w-]+\.png)"', journeys))
    shown = set(re.findall(r"docs/screenshots/([\w-]+\.png)", (ROOT / "README.md").read_text()))
    assert taken and taken == shown
    assert all((ROOT / "docs" / "screenshots" / name).is_file() for name in shown)


def test_failed_requests_get_the_portals_own_pages_even_without_a_database(rf):
    from django.views.defaults import permission_denied, server_error

    broken = server_error(rf.get("/admin/"))
    refused = permission_denied(rf.get("/admin/"), exception=None)
    for response, title in ((broken, "Something went wrong"), (refused, "Not allowed")):
        page = response.content.decode()
        assert '<html lang="en">' in page and f"<title>{title} | CPT compliance</title>" in page, page[:300]
        assert f"<h1>{title}</h1>" in page and "Go to the portal's start page" in page
    assert (broken.status_code, refused.status_code) == (500, 403)
