"""The admin's desk pages through the web app, and every reviewer page renders for an admin.

The class: a page that renders a 500 for its own admin (the desks pages once
replaced the language picker's variable) fails the whole-map check below.
"""

from __future__ import annotations

from desk_kit import Desks, csrf, logged_in, send
from flask import url_for

from tests.reviewer.reviewer_kit import ReviewerSite
from tipbox.services.desks.desks import DEFAULT_DESK


def test_every_get_page_of_the_reviewer_app_renders_for_an_admin(
    site: ReviewerSite, desks: Desks
) -> None:
    instance = site.services.instance
    _, source_id = send(instance, DEFAULT_DESK, "a message", files={"a.pdf": b"%PDF"})
    item_id = site.services.inbox.conversation(source_id, [], reviewer="t").entries[0].id
    values = {"source_id": source_id, "item_id": item_id, "desk_id": desks.legal.id,
              "filename": "tipbox.css"}
    admin = logged_in(site, site.admin)
    checked = []
    with site.app.test_request_context():
        rules = [rule for rule in site.app.url_map.iter_rules()
                 if "GET" in (rule.methods or set()) and not rule.endpoint.startswith("api.")
                 and set(rule.arguments) <= set(values)]
        urls = [(rule.endpoint, url_for(rule.endpoint, **{k: values[k] for k in rule.arguments}))
                for rule in rules]
    for endpoint, url in urls:
        response = admin.get(url)
        assert response.status_code < 500, (endpoint, url, response.status_code)
        checked.append(endpoint)
    assert {"desks.desks", "desks.desk", "admin.keys", "inbox.source"} <= set(checked)


def test_an_admin_creates_a_desk_with_questions_and_members(site: ReviewerSite,
                                                            desks: Desks) -> None:
    admin = logged_in(site, site.admin)
    created = admin.post("/admin/desks", data={
        "csrf_token": csrf(admin, "/admin/desks"), "slug": "regional",
        "desk_name_en": "Regional bureau", "desk_description_en": "Outside the capital",
        "desk_name_uk": "Регіональне бюро", "member": [str(site.services.reviewers
                                                           .by_username("alice").id)]})
    assert created.status_code == 200, created.get_data(as_text=True)[:2000]
    page = created.get_data(as_text=True)
    regional = site.services.instance.desks.by_slug("regional")
    key = site.services.instance.keyring.active_key(regional.id)
    assert key.fingerprint in page
    assert regional.text("uk").name == "Регіональне бюро"
    assert regional.text("pl").name == "Regional bureau"  # English when a language is empty
    path = f"/admin/desks/{regional.id}"
    added = admin.post(f"{path}/questions", data={
        "csrf_token": csrf(admin, path), "kind": "choice", "required": "1",
        "q_label_en": "Which region?", "q_choices_en": "North\nSouth"})
    assert added.status_code == 200
    [question] = site.services.instance.questions.of_desk(regional.id)
    assert (question.kind, question.required, question.text("en").choices) == (
        "choice", True, ("North", "South"))
    refused = admin.post(f"{path}/questions", data={
        "csrf_token": csrf(admin, path), "kind": "choice",
        "q_label_en": "Only one option?", "q_choices_en": "Yes"})
    assert refused.status_code == 400
    assert "2 to 20 options" in refused.get_data(as_text=True)
    lena = site.services.reviewers.by_username("lena").id
    member = admin.post(f"{path}/members", data={"csrf_token": csrf(admin, path),
                                                 "reviewer": str(lena)})
    assert member.status_code == 200
    assert lena in [m[0] for m in site.services.instance.desks.members(regional.id)]
    closed = admin.post(f"{path}/open", data={"csrf_token": csrf(admin, path), "open": "0"})
    assert closed.status_code == 200
    assert not site.services.instance.desks.get(regional.id).is_open
    taken = admin.post("/admin/desks", data={"csrf_token": csrf(admin, "/admin/desks"),
                                             "slug": "regional", "desk_name_en": "Again"})
    assert taken.status_code == 400
    assert "a desk with that short name exists" in taken.get_data(as_text=True)
    nameless = admin.post("/admin/desks", data={"csrf_token": csrf(admin, "/admin/desks"),
                                                "slug": "empty"})
    assert nameless.status_code == 400
    assert "a desk&#39;s name has 1 to 80" in nameless.get_data(as_text=True)
    bare = admin.post("/admin/desks", data={"csrf_token": csrf(admin, "/admin/desks"),
                                            "slug": "bare", "desk_name_en": "No members yet"})
    assert bare.status_code == 200  # a desk may start without members: the recovery key holds it
    assert site.services.instance.desks.members(
        site.services.instance.desks.by_slug("bare").id) == []


def test_a_reviewer_is_no_admin_of_desks(site: ReviewerSite, desks: Desks) -> None:
    lena = logged_in(site, desks.lena)
    assert lena.get("/admin/desks").status_code == 403
    refused = lena.post("/admin/desks", data={"csrf_token": csrf(lena, "/"), "slug": "mine",
                                              "desk_name_en": "Mine"})
    assert refused.status_code == 403
    assert [d.slug for d in site.services.instance.desks.all()] == ["newsroom", "legal"]
