"""SessionLinkRepository: which images a session shows, newest first, page by page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from imagepipe.domain.errors import ErrorCode, InvalidRequest
from imagepipe.domain.model import SessionLink
from imagepipe.domain.ports import SessionLinkRepository
from tests.contract.samples import T0


def a_link(image_id: str, minute: int = 0, session: str = "s", tenant: str = "t") -> SessionLink:
    return SessionLink(tenant, session, image_id, T0 + timedelta(minutes=minute))


def listing(
    links: SessionLinkRepository, tenant: str = "t", session: str = "s", limit: int = 2
) -> list[str]:
    """Every image id of a session, following the tokens page by page."""
    found: list[str] = []
    token: str | None = None
    while True:
        page, token = links.page(tenant, session, limit=limit, token=token)
        assert len(page) <= limit
        found += [link.image_id for link in page]
        if token is None:
            return found


def test_linking_twice_keeps_the_first_link(links: SessionLinkRepository) -> None:
    # Given an image linked to a session
    first = links.link(a_link("img-1", minute=0))

    # When it is linked again, later
    again = links.link(a_link("img-1", minute=60))

    # Then the second link reports it existed, and the first one stands
    assert (first, again) == (True, False)
    page, _ = links.page("t", "s", limit=10, token=None)
    assert page == [a_link("img-1", minute=0)]


def test_unlink_reports_whether_there_was_a_link(links: SessionLinkRepository) -> None:
    # Given one linked image
    links.link(a_link("img-1"))

    # When it is unlinked twice, and an image never linked once
    results = [links.unlink("t", "s", i) for i in ("img-1", "img-1", "img-2")]

    # Then only the first unlink found a link, and the session is empty
    assert results == [True, False, False]
    assert links.page("t", "s", limit=10, token=None) == ([], None)


def test_pages_run_newest_first_and_end_without_a_token(links: SessionLinkRepository) -> None:
    # Given three links one minute apart, linked out of order
    for minute in (1, 0, 2):
        links.link(a_link(f"img-{minute}", minute=minute))

    # When paged two at a time
    first, token = links.page("t", "s", limit=2, token=None)
    second, end = links.page("t", "s", limit=2, token=token)

    # Then newest first, and no token after the last page
    assert [link.image_id for link in first] == ["img-2", "img-1"]
    assert [link.image_id for link in second] == ["img-0"]
    assert token is not None
    assert end is None
    assert first[0] == a_link("img-2", minute=2)


def test_a_full_last_page_has_no_token(links: SessionLinkRepository) -> None:
    # Given exactly two pages' worth of links
    for minute in range(4):
        links.link(a_link(f"img-{minute}", minute=minute))

    # When paged two at a time
    _, token = links.page("t", "s", limit=2, token=None)
    second, end = links.page("t", "s", limit=2, token=token)

    # Then the second page is the last, with no token leading to an empty page
    assert [link.image_id for link in second] == ["img-1", "img-0"]
    assert end is None


def test_links_of_the_same_moment_are_paged_once_each_in_a_stable_order(
    links: SessionLinkRepository,
) -> None:
    # Given five links made at the same moment, linked in no particular order, and an older one
    for image_id in ("img-b", "img-e", "img-a", "img-d", "img-c"):
        links.link(a_link(image_id, minute=1))
    links.link(a_link("img-0", minute=0))

    # When the session is listed twice, two at a time (page ends fall inside the tie)
    once, twice = listing(links), listing(links)

    # Then the image id breaks the tie, every link comes once, the same way each time
    assert once == ["img-e", "img-d", "img-c", "img-b", "img-a", "img-0"]
    assert twice == once


@pytest.mark.parametrize("token", ["garbage!", "e30", "eyJzIjoiMSJ9"])
def test_a_bad_page_token_is_an_invalid_request(links: SessionLinkRepository, token: str) -> None:
    # Given a session with a link
    links.link(a_link("img-1"))

    # When it is paged with a token it never handed out
    with pytest.raises(InvalidRequest) as caught:
        links.page("t", "s", limit=1, token=token)

    # Then the request is refused, naming the parameter
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_NEXT_TOKEN, "nextToken")


def test_an_empty_page_token_is_an_invalid_request(links: SessionLinkRepository) -> None:
    # Given a session with a link
    links.link(a_link("img-1"))

    # When it is paged with an empty token (None asks for the first page)
    with pytest.raises(InvalidRequest) as caught:
        links.page("t", "s", limit=1, token="")

    # Then the request is refused, naming the parameter
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_NEXT_TOKEN, "nextToken")


@pytest.mark.parametrize(
    ("tenant", "session"), [("t", "s-2"), ("t-2", "s-1")], ids=["session", "tenant"]
)
def test_a_token_of_another_listing_is_refused(
    links: SessionLinkRepository, tenant: str, session: str
) -> None:
    # Given a token of tenant t's session s-1, and another listing with links
    for minute in range(2):
        links.link(a_link(f"img-{minute}", minute=minute, session="s-1"))
        links.link(a_link(f"img-{minute}", minute=minute, session=session, tenant=tenant))
    _, token = links.page("t", "s-1", limit=1, token=None)
    assert token is not None

    # When the other listing is paged with it
    with pytest.raises(InvalidRequest) as caught:
        links.page(tenant, session, limit=1, token=token)

    # Then the request is refused, naming the parameter
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_NEXT_TOKEN, "nextToken")


def test_sessions_of_lists_every_session_linking_the_image(links: SessionLinkRepository) -> None:
    # Given an image linked in two sessions of one tenant and one of another, and another image
    for tenant, session in (("t-1", "s-1"), ("t-1", "s-2"), ("t-2", "s-1")):
        links.link(a_link("img-1", session=session, tenant=tenant))
    links.link(a_link("img-2", session="s-3", tenant="t-1"))

    # When the sessions of each image are asked for
    found = {i: sorted(links.sessions_of(i)) for i in ("img-1", "img-2", "img-404")}

    # Then each (tenant, session) linking it is there, once
    assert found == {
        "img-1": [("t-1", "s-1"), ("t-1", "s-2"), ("t-2", "s-1")],
        "img-2": [("t-1", "s-3")],
        "img-404": [],
    }


def test_tenants_are_separate(links: SessionLinkRepository) -> None:
    # Given two tenants using the same session id for the same image and one more each
    for tenant in ("t-1", "t-2"):
        links.link(a_link("img-1", tenant=tenant))
        links.link(a_link(f"img-{tenant}", minute=1, tenant=tenant))

    # When one tenant unlinks the shared image
    removed = links.unlink("t-1", "s", "img-1")

    # Then only that tenant's session lost it
    assert removed is True
    assert listing(links, tenant="t-1") == ["img-t-1"]
    assert listing(links, tenant="t-2") == ["img-t-2", "img-1"]
    assert links.unlink("t-3", "s", "img-t-2") is False


def test_linked_says_which_images_a_session_holds(links: SessionLinkRepository) -> None:
    # Given a session holding two images, another session and another tenant holding a third
    links.link(a_link("img-1"))
    links.link(a_link("img-2"))
    links.link(a_link("img-3", session="other"))
    links.link(a_link("img-3", tenant="t-2"))

    # When the session is asked about four ids (one repeated), and about none
    found = links.linked("t", "s", ["img-3", "img-1", "img-404", "img-2", "img-1"])

    # Then it names the two it holds
    assert found == {"img-1", "img-2"}
    assert links.linked("t", "s", []) == set()
    # And more ids than one BatchGetItem takes are answered too
    many = [f"img-{n}" for n in range(250)]
    assert links.linked("t", "s", many) == {"img-1", "img-2"}
