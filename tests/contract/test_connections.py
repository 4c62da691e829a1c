"""ConnectionRepository: live-update sockets by session, and ticket nonces spent once."""

from __future__ import annotations

import threading

from imagepipe.domain.live import CONNECTION_LIFETIME, TICKET_LIFETIME
from imagepipe.domain.model import Connection
from imagepipe.domain.ports import ConnectionRepository
from tests.contract.samples import T0


def a_socket(connection_id: str, session: str = "s-1", tenant: str = "t") -> Connection:
    return Connection(connection_id, tenant, session, T0, T0 + CONNECTION_LIFETIME)


def test_a_nonce_is_claimed_once(connections: ConnectionRepository) -> None:
    # Given a ticket's nonce / When it is claimed twice
    first = connections.claim_ticket("n-1", T0 + TICKET_LIFETIME)
    second = connections.claim_ticket("n-1", T0 + TICKET_LIFETIME)
    # Then only the first claim wins, and another nonce is unaffected
    assert (first, second) == (True, False)
    assert connections.claim_ticket("n-2", T0 + TICKET_LIFETIME) is True


def test_of_twenty_racing_claims_of_one_nonce_exactly_one_wins(
    connections: ConnectionRepository,
) -> None:
    # Given twenty sockets presenting one ticket at the same moment
    barrier = threading.Barrier(20)
    results: list[bool] = []

    def claim() -> None:
        barrier.wait()
        results.append(connections.claim_ticket("n-1", T0 + TICKET_LIFETIME))

    threads = [threading.Thread(target=claim) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one of them claimed it
    assert sorted(results) == [False] * 19 + [True]


def test_sockets_are_found_by_their_session_and_tenant(connections: ConnectionRepository) -> None:
    # Given sockets on s-1 (two), s-2, and on s-1 of another tenant
    for socket in (
        a_socket("a"),
        a_socket("b"),
        a_socket("c", session="s-2"),
        a_socket("d", tenant="other"),
    ):
        connections.add(socket)
    # When each session's sockets are looked up / Then each gets exactly its own
    assert sorted(connections.of_session("t", "s-1")) == ["a", "b"]
    assert connections.of_session("t", "s-2") == ["c"]
    assert connections.of_session("other", "s-1") == ["d"]
    assert connections.of_session("t", "s-3") == []


def test_a_removed_socket_is_no_longer_found_and_removing_twice_is_fine(
    connections: ConnectionRepository,
) -> None:
    # Given two sockets on one session
    connections.add(a_socket("a"))
    connections.add(a_socket("b"))
    # When one is removed, twice, and an unknown one too
    connections.remove("a")
    connections.remove("a")
    connections.remove("never-there")
    # Then only the other is left
    assert connections.of_session("t", "s-1") == ["b"]


def test_a_spent_nonce_is_not_a_socket(connections: ConnectionRepository) -> None:
    # Given a spent ticket nonce and no socket / When session s-1's sockets are looked up
    connections.claim_ticket("n-1", T0 + TICKET_LIFETIME)
    # Then there are none: nonces never show up as sockets
    assert connections.of_session("t", "s-1") == []
