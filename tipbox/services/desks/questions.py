"""A desk's optional questions, and the answers a source gives on the submit form.

Admins add questions of three kinds: ``short`` (one line), ``long`` (a text)
and ``choice`` (one of a list). Each has a label (and, for a choice, its
options) per language; a question may be required.

Security contract: answers are what a source wrote, as secret as its
message. :func:`answers_from` checks them and hands back :class:`Answer`
values; the submission stores them only inside its encrypted manifest
(:mod:`tipbox.services.submissions.intake`), each with the label the source
saw, so a later edit of the question does not change what an answer meant.
Nothing here logs or stores an answer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tipbox.errors import InvalidInput, NotFound, TooLarge
from tipbox.services.audit import Audit
from tipbox.services.desks.languages import in_language
from tipbox.store import Database
from tipbox.store import desks as rows

__all__ = [
    "KINDS",
    "MAX_LONG_CHARS",
    "MAX_QUESTIONS",
    "MAX_SHORT_CHARS",
    "Answer",
    "Question",
    "Questions",
    "answers_from",
    "field_name",
    "parse_question_texts",
]

KINDS = ("short", "long", "choice")
MAX_SHORT_CHARS = 200
MAX_LONG_CHARS = 2000
MAX_LABEL_CHARS = 200
MAX_CHOICES = 20
MAX_QUESTIONS = 10


@dataclass(frozen=True, slots=True)
class QuestionText:
    """A question's label and (for a choice) options in one language."""

    label: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Question:
    """One question of a desk's form."""

    id: int
    kind: str
    texts: Mapping[str, QuestionText]
    required: bool

    def text(self, language: str) -> QuestionText:
        """The label and options in ``language``, else English, else any language."""
        return in_language(self.texts, language) or QuestionText("")

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Question:
        loaded = json.loads(str(row["texts"]))
        texts = {code: QuestionText(str(t["label"]), tuple(str(c) for c in t.get("choices", ())))
                 for code, t in loaded.items()}
        return cls(int(row["id"]), str(row["kind"]), texts, bool(row["required"]))


@dataclass(frozen=True, slots=True)
class Answer:
    """A source's answer to one question, with the label as the source saw it."""

    question_id: int
    kind: str
    label: str
    text: str

    def to_json(self) -> dict[str, object]:
        return {"question": self.question_id, "kind": self.kind, "label": self.label,
                "answer": self.text}

    @classmethod
    def from_json(cls, value: object) -> Answer | None:
        """An answer read back from a manifest; ``None`` for an unknown shape."""
        if not isinstance(value, dict):
            return None
        fields = (value.get("question"), value.get("kind"), value.get("label"),
                  value.get("answer"))
        if not isinstance(fields[0], int) or not all(isinstance(f, str) for f in fields[1:]):
            return None
        return cls(fields[0], str(fields[1]), str(fields[2]), str(fields[3]))


def field_name(question: Question) -> str:
    """The submit form's field of a question."""
    return f"q{question.id}"


def answers_from(
    questions: Sequence[Question], form: Mapping[str, str], language: str
) -> list[Answer]:
    """The checked answers in ``form`` (blank answers are left out).

    Raises ``InvalidInput`` naming the question's label: ``answer_required``
    for a required question left blank, ``answer_not_a_choice`` for a choice
    that is not one of the options, ``answer_one_line`` for a short answer
    with a line break; :class:`TooLarge` (``answer_too_long``) past the
    kind's length.
    """
    answers = []
    for question in questions:
        text = question.text(language)
        value = form.get(field_name(question), "").strip()
        if not value:
            if question.required:
                raise InvalidInput("a required question has no answer", code="answer_required",
                                   params={"question": text.label})
            continue
        answers.append(Answer(question.id, question.kind, text.label,
                              _checked(question, text, value)))
    return answers


def _checked(question: Question, text: QuestionText, value: str) -> str:
    if question.kind == "choice":
        if value not in text.choices:
            raise InvalidInput("that is not one of the options", code="answer_not_a_choice",
                               params={"question": text.label})
        return value
    limit = MAX_SHORT_CHARS if question.kind == "short" else MAX_LONG_CHARS
    if len(value) > limit:
        raise TooLarge("an answer is too long", code="answer_too_long",
                       params={"question": text.label, "num": limit})
    if question.kind == "short" and ("\n" in value or "\r" in value):
        raise InvalidInput("a short answer has one line", code="answer_one_line",
                           params={"question": text.label})
    return value


def parse_question_texts(
    kind: str, texts: Mapping[str, tuple[str, str]]
) -> dict[str, QuestionText]:
    """Checked texts from ``{language: (label, options one per line)}``; blank ones dropped.

    Raises ``InvalidInput`` (``question_text``) without any label, for a
    label too long, or for a choice with fewer than 2 or more than 20
    options, or with options only in some languages' count.
    """
    if kind not in KINDS:
        raise InvalidInput("unknown kind of question", code="question_kind")
    checked = {}
    for code, (label, options) in texts.items():
        label = label.strip()
        choices = tuple(line.strip() for line in options.splitlines() if line.strip())
        if not label and not choices:
            continue
        if not label or len(label) > MAX_LABEL_CHARS or not label.isprintable():
            raise InvalidInput("a question needs a label", code="question_text")
        checked[code] = QuestionText(label, choices if kind == "choice" else ())
    if not checked:
        raise InvalidInput("a question needs a label", code="question_text")
    if kind == "choice":
        _check_choices(checked.values())
    return checked


def _check_choices(texts: Iterable[QuestionText]) -> None:
    counts = {len(t.choices) for t in texts}
    if len(counts) != 1 or not 2 <= counts.pop() <= MAX_CHOICES:
        raise InvalidInput("a choice has 2 to 20 options, as many in every language",
                           code="question_choices")


def _encode(texts: Mapping[str, QuestionText]) -> str:
    return json.dumps({code: {"label": t.label, "choices": list(t.choices)}
                       for code, t in texts.items()}, ensure_ascii=False, sort_keys=True)


class Questions:
    """The questions of each desk's form."""

    def __init__(self, db: Database, *, audit: Audit) -> None:
        self._db = db
        self._audit = audit

    def of_desk(self, desk_id: int) -> list[Question]:
        """The desk's questions in form order."""
        with self._db.reading() as conn:
            return [Question.from_row(row) for row in rows.question_rows(conn, desk_id)]

    def add(self, desk_id: int, kind: str, texts: Mapping[str, QuestionText], *,
            required: bool, by: str | None = None) -> int:
        """Add a question last on the desk's form; its id."""
        with self._db.transaction() as conn:
            if rows.desk_row(conn, desk_id) is None:
                raise NotFound("no such desk")
            if len(rows.question_rows(conn, desk_id)) >= MAX_QUESTIONS:
                raise InvalidInput("a desk has at most 10 questions", code="too_many_questions",
                                   params={"num": MAX_QUESTIONS})
            question_id = rows.insert_question(conn, desk_id, kind, _encode(texts),
                                               required=required)
        self._audit.record("add question", reviewer=by, target=str(question_id))
        return question_id

    def remove(self, desk_id: int, question_id: int, *, by: str | None = None) -> None:
        """Take a question off the desk's form."""
        with self._db.transaction() as conn:
            if not rows.delete_question(conn, desk_id, question_id):
                raise NotFound("no such question")
        self._audit.record("remove question", reviewer=by, target=str(question_id))
