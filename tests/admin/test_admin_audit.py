"""The admin audit viewer: admin actions recorded, pages by id, filters."""

from __future__ import annotations

import pytest

from tipbox.services.wiring import AdminServices, ReviewerServices


def test_pages_and_filters(services: ReviewerServices, admin_services: AdminServices) -> None:
    audit = admin_services.audit
    for n in range(7):
        audit.record("rotate key", reviewer="alice", target=f"key {n}")
        services.audit.record("view", reviewer="bob", item_id=n)
    first = audit.page(size=5)
    assert len(first.entries) == 5
    assert first.next_before is not None
    second = audit.page(size=5, before=first.next_before)
    third = audit.page(size=5, before=second.next_before)
    ids = [e.id for page in (first, second, third) for e in page.entries]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 14
    assert third.next_before is None
    alice = audit.page(reviewer="alice", size=100).entries
    assert {e.action for e in alice} == {"rotate key"}
    assert len(alice) == 7
    assert alice[0].target == "key 6"
    views = audit.page(action="view", reviewer="bob").entries
    assert len(views) == 7
    assert views[0].item_id == 6
    assert audit.reviewers() == ["alice", "bob"]
    assert "rotate key" in audit.actions()
    assert "view" in audit.actions()


def test_unknown_actions_are_refused(admin_services: AdminServices) -> None:
    with pytest.raises(ValueError, match="unknown"):
        admin_services.audit.record("format disk", reviewer="mallory")
