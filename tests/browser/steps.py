"""What a person does in the portal, as Playwright steps: sign in, choose in an autocomplete, save, read messages."""

import re

from playwright.sync_api import Page, expect


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/admin/")
    page.health.check()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Log out").or_(page.get_by_role("button", name="Log out"))).to_be_visible()


def choose(page: Page, field: str, text: str, *, search: str | None = None) -> None:
    """Pick `text` in the autocomplete of `field` (Django's select2 widget): open it, type `search` (by default
    `text`; an option's label may say more than the search matches, e.g. "Name (Organization)"), click the match."""
    page.locator(f"#id_{field} + .select2").click()
    page.locator(".select2-container--open .select2-search__field").fill(search or text)
    page.locator(".select2-results__option", has_text=text).first.click()


def submit(page: Page, button: str) -> None:
    """Press a form's `button` and wait for the answer to load: the click returns once the new page is committed,
    before its body is parsed, so reading rows straight after it may find none."""
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()


def save(page: Page, button: str = "Save and continue editing") -> None:
    submit(page, button)


def success_message(page: Page) -> str:
    return page.locator("ul.messagelist li.success").inner_text()


def field_errors(page: Page, field: str) -> str:
    """The errors shown next to `field` on an admin form."""
    return page.locator(f".field-{field} .errorlist, .errorlist[id='id_{field}_error']").all_inner_texts().__str__()


def object_id(page: Page) -> int:
    """The id in the URL of the change page shown."""
    return int(re.search(r"/(\d+)/change/", page.url).group(1))
