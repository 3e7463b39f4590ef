"""Sending a form once: post/redirect/get, the form token, the one-time receipt."""

from __future__ import annotations

import io
import re
import secrets
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient

from tests.web.conftest import SourceSite
from tests.web.test_canary import canary_forms, contains_any, files_under
from tipbox.source import create_source_app
from tipbox.web import instance as app_instance

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
_CODENAME = re.compile(r'<p class="codename" lang="en"><strong>([a-z\- ]+)</strong></p>')
RECEIPT = "/submit/receipt"


def load_form(client: FlaskClient) -> dict[str, str]:
    page = client.get("/submit").get_data(as_text=True)
    csrf, form = _CSRF.search(page), _FORM_TOKEN.search(page)
    assert csrf is not None
    assert form is not None
    return {"csrf_token": csrf.group(1), "form_token": form.group(1)}


def send(client: FlaskClient, form: dict[str, str], message: str = "the mayor lies",
         files: list[tuple[bytes, str]] | None = None) -> None:
    data: dict[str, object] = {**form, "message": message}
    if files:
        data["files"] = [(io.BytesIO(content), name) for content, name in files]
    response = client.post("/submit", data=data, content_type="multipart/form-data")
    assert (response.status_code, response.location) == (303, RECEIPT)


def copy_of(site: SourceSite, client: FlaskClient) -> FlaskClient:
    """A second client with the first's cookie, as a browser resends with the old one."""
    other = site.app.test_client()
    cookie = client.get_cookie("session")
    assert cookie is not None
    other.set_cookie("session", cookie.value)
    return other


def codename_on(client: FlaskClient) -> str:
    page = client.get(RECEIPT).get_data(as_text=True)
    match = _CODENAME.search(page)
    assert match is not None, page
    return match.group(1)


def test_the_same_form_sent_twice_makes_one_source_and_one_receipt(
    client: FlaskClient, site: SourceSite
) -> None:
    form = load_form(client)
    resend = copy_of(site, client)  # the cookie before the first answer (double click)
    send(client, form)
    send(client, form)  # back and resend, with the answer's cookie
    send(resend, form)
    assert site.submission_count() == 1
    assert codename_on(client) == codename_on(resend)


def test_two_copies_racing_in_two_threads_make_one(client: FlaskClient, site: SourceSite) -> None:
    form = load_form(client)
    clients = [copy_of(site, client) for _ in range(2)]
    start = threading.Barrier(2)

    def race(racer: FlaskClient) -> None:
        start.wait()
        send(racer, form, files=[(b"x" * 200_000, "a.pdf")])

    threads = [threading.Thread(target=race, args=(racer,)) for racer in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert site.submission_count() == 1
    assert codename_on(clients[0]) == codename_on(clients[1])


def test_receipt_lists_what_came_and_is_shown_once(client: FlaskClient, site: SourceSite) -> None:
    send(client, load_form(client), files=[(b"a" * 1500, "report.pdf"), (b"b" * 10, "c.txt")])
    page = client.get(RECEIPT).get_data(as_text=True)
    assert "only this once" in page
    assert "report.pdf" in page
    assert "1.46 KB" in page
    assert "c.txt" in page
    assert "10 bytes" in page
    assert "2 files" in page
    assert "Your message." in page
    again = client.get(RECEIPT).get_data(as_text=True)
    assert "already shown" in again
    assert _CODENAME.search(again) is None
    assert "report.pdf" not in again
    send(client, load_form(client))
    assert site.submission_count() == 2  # a new form is a new submission


def test_a_resend_after_the_receipt_was_shown_makes_nothing(
    client: FlaskClient, site: SourceSite
) -> None:
    form = load_form(client)
    send(client, form)
    assert codename_on(client)
    send(client, form)
    assert site.submission_count() == 1
    assert "already shown" in client.get(RECEIPT).get_data(as_text=True)


def test_receipt_without_codename_and_without_message(
    client: FlaskClient, site: SourceSite
) -> None:
    form = load_form(client) | {"no_codename": "1"}
    send(client, form, message="", files=[(b"data", "only.bin")])
    page = client.get(RECEIPT).get_data(as_text=True)
    assert "cannot reply" in page
    assert "No message." in page
    assert "only.bin" in page
    assert _CODENAME.search(page) is None


def test_a_receipt_page_without_a_sent_form_says_already_shown(client: FlaskClient) -> None:
    response = client.get(RECEIPT)
    assert response.status_code == 200
    assert "already shown" in response.get_data(as_text=True)


def test_a_malformed_form_token_is_refused(client: FlaskClient, site: SourceSite) -> None:
    form = load_form(client) | {"form_token": "../not-a-token"}
    response = client.post("/submit", data={**form, "message": "x"},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert site.submission_count() == 0


def test_a_form_without_token_is_still_sent(client: FlaskClient, site: SourceSite) -> None:
    form = load_form(client)
    del form["form_token"]
    send(client, form)
    assert site.submission_count() == 1
    assert codename_on(client)


def test_codename_and_file_name_are_in_no_file_and_not_plain_in_the_cookie(
    client: FlaskClient, site: SourceSite
) -> None:
    file_name = f"leak-canary-{secrets.token_hex(16)}.pdf"
    send(client, load_form(client), files=[(b"x" * 3000, file_name)])
    cookie = client.get_cookie("session")
    assert cookie is not None
    codename = codename_on(client)
    needles = canary_forms(file_name) + canary_forms(codename)
    roots = [site.settings.data_dir, site.settings.keys_dir, Path(tempfile.gettempdir())]
    assert [path for path in files_under(*roots) if contains_any(path, needles)] == []
    assert not any(needle.decode("latin-1") in cookie.value for needle in needles)


def test_the_cookie_stays_small_with_many_long_names(
    make_site: Callable[..., SourceSite]
) -> None:
    site = make_site(TIPBOX_MAX_FILES="20")
    client = site.app.test_client()
    names = [f"{'ж' * 240}-{number}.pdf" for number in range(20)]
    send(client, load_form(client), files=[(b"x", name) for name in names])
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert len(cookie.value) < 3000  # a browser keeps at most 4096 bytes per cookie
    page = client.get(RECEIPT).get_data(as_text=True)
    assert "20 files" in page
    assert "more files" in page


def test_the_form_shows_every_limit_before_sending(client: FlaskClient) -> None:
    page = client.get("/submit").get_data(as_text=True)
    assert "At most 2,000 characters." in page  # TIPBOX_MAX_MESSAGE_CHARS=2000
    assert "Up to 3 files, 8 MB in total." in page  # 3 files, 8 MiB
    assert "A single file may be as large as 8 MB." in page
    assert 'name="form_token"' in page


def test_two_copies_racing_in_two_worker_processes_make_one(
    client: FlaskClient, site: SourceSite
) -> None:
    """Two apps over one instance stand for gunicorn's two workers: no shared memory."""
    other_worker = create_source_app(site.settings)
    other_worker.config["TESTING"] = True
    try:
        form = load_form(client)
        cookie = client.get_cookie("session")
        assert cookie is not None
        racers = [site.app.test_client(), other_worker.test_client()]
        for racer in racers:
            racer.set_cookie("session", cookie.value)
        start = threading.Barrier(2)

        def race(racer: FlaskClient) -> None:
            start.wait()
            send(racer, form, files=[(b"y" * 300_000, "b.pdf")])

        threads = [threading.Thread(target=race, args=(racer,)) for racer in racers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert site.submission_count() == 1
        # Both answers carry the same receipt, whichever the browser keeps.
        assert codename_on(racers[0]) == codename_on(racers[1])
        with site.instance.store.db.connection() as conn:
            rows = conn.execute("SELECT token_hash, sealed FROM sent_forms").fetchall()
        assert len(rows) == 1
        assert codename_on_sealed_row_is_hidden(rows[0]["sealed"], form["form_token"])
    finally:
        with other_worker.app_context():
            app_instance().close()


def codename_on_sealed_row_is_hidden(sealed: bytes, token: str) -> bool:
    """The row holds the receipt sealed: no ASCII word of a codename, nor the token."""
    return token.encode() not in sealed and re.search(rb"[a-z]{4,} [a-z]{4,}", sealed) is None
