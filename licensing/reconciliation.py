"""Reconciling an organization's rosters across its applications: the findings an officer reviews.

A person is the same person on every roster of the organization and its affiliates when their identifiers match,
whatever the case ("E1" and "e1"). Four findings are looked for in one license year (docs/rules.md says why the AMA
cares about each):

- **other entity**: a person employed by a legal entity other than the organization that runs the application;
  the AMA application asks which other legal entities' staff use each licensed system (the internal-use license
  covers the licensee's own employees and contractors; AMA, "CPT licensing for health care delivery
  organizations", https://www.ama-assn.org/practice-management/cpt/cpt-licensing-health-care-delivery-organizations);
- **outside the US**: a person working from another country; the application asks which countries users sit in;
- **left**: a person on an application's roster but not on the directory roster (the organization's staff list),
  when one is loaded: an account still open for someone who has gone is still a user until it is closed;
- **shared account**: an identifier or name that reads as a generic or shared login (frontdesk, test, admin ...):
  the AMA counts individual users, so a login several people share hides users (shared_account_word).

Pure functions: no queries (the selectors are in licensing.reconciliation_selectors).
"""

from __future__ import annotations

import re

from django.db import models


class FindingKind(models.TextChoices):
    OTHER_ENTITY = "other_entity", "At another legal entity"
    OUTSIDE_US = "outside_us", "Outside the US"
    LEFT = "left", "Not in the directory"
    SHARED_ACCOUNT = "shared_account", "Looks shared or generic"


# Words that name a role, a place or a purpose rather than a person. A login named so is usually shared by the
# people who hold that role (a front-desk PC's account) or belongs to nobody (a test account). The AMA counts each
# individual who uses the system ("CPT licensing for health care delivery organizations": licensing is per
# individual user), so one shared login can stand for many users, and a test login for none: either way the count
# needs a person's judgement. Two-part words match written together or apart ("frontdesk", "Front Desk").
SHARED_ACCOUNT_WORDS: tuple[str, ...] = (
    "front desk",
    "reception",
    "nurses station",
    "nurse station",
    "test",
    "tester",
    "demo",
    "training",
    "trainer",
    "admin",
    "administrator",
    "shared",
    "generic",
    "temp",
    "temporary",
    "guest",
    "kiosk",
    "workstation",
    "user",
    "default",
    "service",
    "svc",
)
_WORDS = {word.replace(" ", ""): word for word in SHARED_ACCOUNT_WORDS}


def _as_words(token: str) -> list[str] | None:
    """`token` as a run of listed words ("testuser" -> test, user), or None when it is anything else."""
    best: list[list[str] | None] = [[]] + [None] * len(token)
    for end in range(1, len(token) + 1):
        for start in range(end):
            before = best[start]
            if before is not None and token[start:end] in _WORDS:
                best[end] = [*before, _WORDS[token[start:end]]]
                break
    return best[len(token)]


def shared_account_word(identifier: str, name: str) -> str | None:
    """The word that makes an account look shared or generic ("front desk" for "FrontDesk-2"), or None.

    Identifier and name are read case-insensitively as runs of letters (digits, dots, dashes, underscores and
    spaces separate them; camel case is split, so "FrontDesk" reads as "front desk"). A run, or two neighbouring
    runs together, matches when it is made only of listed words: "front_desk01", "Front Desk 2", "TEMP.USER",
    "testuser" and "svc-interface" match; "Testa, Maria", "Tempest" and "Adminah Okafor" do not, since a person's
    name is not made of the list's words.
    """
    for text in (identifier, name):
        split = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(text or "")).casefold()
        tokens = re.findall(r"[a-z]+", split)
        for candidate in [*tokens, *(a + b for a, b in zip(tokens, tokens[1:], strict=False))]:
            words = _as_words(candidate)
            if words:
                return words[0]
    return None


def looks_shared(identifier: str, name: str) -> bool:
    """Whether shared_account_word finds a word in the identifier or name (stored as Person.looks_shared)."""
    # A quick test first, which every match passes: the letters alone, together, hold a listed word's first part.
    letters = re.sub(r"[^a-z]+", "", f"{identifier or ''}{name or ''}".casefold())
    if not _FIRST_PARTS.search(letters):
        return False
    return shared_account_word(identifier, name) is not None


def identifier_key(identifier: str) -> str:
    """An identifier as reconciliation compares it: "E1" and " e1 " are the same person (as the roster import does,
    licensing.resources.rosters.person_key)."""
    return str(identifier or "").strip().lower()


def words_in_sql() -> tuple[str, ...]:
    """Substrings that narrow the candidates before shared_account_word decides (looks_shared's quick test): the
    first part of each word, which the letters of every identifier or name that matches contain."""
    return tuple(sorted({word.split()[0] for word in SHARED_ACCOUNT_WORDS}))


_FIRST_PARTS = re.compile("|".join(re.escape(word) for word in words_in_sql()))
