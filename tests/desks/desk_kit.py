"""Helpers of the desk tests: a site with two desks, members, a source app on the same instance."""

from __future__ import annotations

import io
from dataclasses import dataclass

from flask.testing import FlaskClient

from tests.reviewer.reviewer_kit import (
    ADMIN_PASSWORD,
    Person,
    ReviewerSite,
    csrf,
    csrf_of,
    enrol,
)
from tipbox.crypto import parse_identity
from tipbox.services.desks.desks import DEFAULT_DESK, Desk, parse_texts
from tipbox.services.desks.questions import answers_from, parse_question_texts
from tipbox.services.wiring import Instance

__all__ = ["ADMIN_PASSWORD", "Desks", "Person", "ReviewerSite", "csrf", "csrf_of", "logged_in",
           "make_desks", "send"]

LEGAL_QUESTIONS = (
    ("short", {"en": ("Which ministry?", ""), "ru": ("Какое министерство?", "")}, True),
    ("choice", {"en": ("How did you get the documents?", "At work\nFrom a colleague\nOther"),
                "ru": ("Как к вам попали документы?", "На работе\nОт коллеги\nИначе")}, False),
    ("long", {"en": ("Who else knows?", "")}, False),
)


@dataclass
class Desks:
    """The default desk (investigations) and a legal desk with questions, and their members."""

    newsroom: Desk
    legal: Desk
    alice: Person  # member of the default desk only
    lena: Person  # member of the legal desk only


def make_desks(site: ReviewerSite) -> Desks:
    """Create the legal desk (the admin a member of both), alice and lena, the questions."""
    instance = site.services.instance
    admin_id = site.services.reviewers.by_username("admin").id
    created = instance.desks.create("legal", parse_texts({
        "en": ("Legal desk", "Court cases and lawyers"),
        "ru": ("Юридический отдел", "Суды и адвокаты")}), members=[admin_id])
    newsroom_keys = instance.keyring.open_identities(parse_identity(site.init.recovery_identity))
    people = {}
    for name, desk_ids in (("alice", [DEFAULT_DESK]), ("lena", [created.desk.id])):
        account, enrolment = site.services.reviewers.create(name, desks=desk_ids)
        site.services.reviewers.grant(account, newsroom_keys)
        people[name] = enrol(site.services, name, enrolment.password, enrolment.totp_secret,
                             ADMIN_PASSWORD)
    for kind, texts, required in LEGAL_QUESTIONS:
        instance.questions.add(created.desk.id, kind, parse_question_texts(kind, texts),
                               required=required)
    return Desks(instance.desks.get(DEFAULT_DESK), created.desk, people["alice"], people["lena"])


def send(instance: Instance, desk_id: int, message: str, *, files: dict[str, bytes] | None = None,
         answers: dict[int, str] | None = None) -> tuple[str, int]:
    """A new source's submission to a desk through the services: (codename, source id)."""
    draft = instance.submissions.start(None, desk_id)
    questions = instance.questions.of_desk(desk_id)
    form = {f"q{q.id}": "an answer" for q in questions if q.required}  # unless given below
    form.update({f"q{qid}": text for qid, text in (answers or {}).items()})
    draft.add_answers(answers_from(questions, form, "en"))
    draft.add_message(message)
    for name, data in (files or {}).items():
        upload = draft.open_file(name, "application/pdf")
        upload.write(io.BytesIO(data).read())
        upload.close()
    receipt = draft.commit()
    assert receipt.codename is not None
    return receipt.codename, instance.desks.source_named(receipt.designation)


def logged_in(site: ReviewerSite, person: Person) -> FlaskClient:
    client = site.client()
    site.log_in(client, person)
    return client
