"""Security keys (issue 17) at the service level, with a software authenticator.

What the browser tests (tests/browser/test_security_keys.py) show with
Chromium's virtual authenticator, here without a browser and with the
answers forged where a browser would not: another origin or RP ID, a counter
that goes back, a replayed or foreign challenge, a lying PRF output.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reviewer_kit import T0, Person, Submitted, enrol, login
from soft_authenticator import SoftAuthenticator, SoftCredential, b64

from tipbox.errors import AuthenticationFailed, InvalidInput, NotFound
from tipbox.services.accounts.security_keys import (
    CHALLENGE_SECONDS,
    MAX_KEYS,
    KeyLoginFailed,
    KeyRefused,
    RelyingParty,
    SecurityKeys,
)
from tipbox.services.accounts.sessions import ReviewerSession
from tipbox.services.accounts.throttle import AccountLocked
from tipbox.services.custody.unlock import PRF_SALT_BYTES, PrfFactor
from tipbox.services.wiring import ReviewerServices

RP = RelyingParty.of("http", "localhost:8081")
NONCE = b"n" * 32


@pytest.fixture
def keys(services: ReviewerServices) -> SecurityKeys:
    return services.security_keys


@pytest.fixture
def me(services: ReviewerServices, admin: Person) -> ReviewerSession:
    return login(services, admin)[1]


def now(person: Person) -> float:
    """A time after every code the person used (the kit's clock only moves forward)."""
    person.clock[0] += 1
    return person.clock[0]


def add_key(keys: SecurityKeys, me: ReviewerSession, person: Person,
            authenticator: SoftAuthenticator, name: str = "blue key"
            ) -> tuple[SoftCredential, bool]:
    """Register a key of ``authenticator`` as the page's script does; (credential, unlocks)."""
    options = keys.registration_options(me, RP, now=now(person))
    response, credential = authenticator.create(options)
    follow_up = None
    if authenticator.prf and not authenticator.prf_at_creation:
        follow_up = authenticator.follow_up(options, credential)
    key = keys.register(me, RP, password=person.password, name=name, response=response,
                        follow_up=follow_up, now=now(person))
    return credential, key.unlocks


def key_login(keys: SecurityKeys, person: Person, authenticator: SoftAuthenticator, *,
              password: str | None = None, nonce: bytes = NONCE, **forged: object) -> str:
    """Options, the authenticator's answer, the login; returns the session token."""
    options = keys.login_options(person.username, RP, nonce=nonce, now=now(person))
    answer = authenticator.get(options, **forged)  # type: ignore[arg-type]
    result = keys.login(person.username, password or person.password, answer, RP,
                        nonce=nonce, now=now(person))
    assert result.kind == "full"
    return result.token


def break_password_seal(services: ReviewerServices, username: str) -> None:
    """Damage what the password's KEK opens: only a PRF key can open the identity now."""
    with services.instance.store.db.transaction() as conn:
        conn.execute("UPDATE reviewers SET sealed_identity = randomblob(200)"
                     " WHERE username = ?", (username,))


def read_message(services: ReviewerServices, token: str, person: Person,
                 submitted: Submitted) -> str | None:
    session = services.sessions.load(token, now=now(person))
    conversation = services.inbox.conversation(submitted.source_id, session.identities(),
                                               reviewer=person.username)
    return next(entry.text for entry in conversation.entries if entry.kind == "message")


# -- registration and login --------------------------------------------------------------------


def test_a_key_without_prf_is_a_second_factor(
        services: ReviewerServices, keys: SecurityKeys, me: ReviewerSession,
        admin: Person) -> None:
    authenticator = SoftAuthenticator(RP.origin)
    _, unlocks = add_key(keys, me, admin, authenticator)
    assert not unlocks
    assert [key.name for key in keys.keys_of(me.reviewer_id)] == ["blue key"]
    token = key_login(keys, admin, authenticator)
    session = services.sessions.load(token, now=now(admin))
    assert session.username == "admin"
    assert session.identities()  # the grants were opened with the password's KEK
    actions = [(row.action, row.target) for row in services.audit.recent(3)]
    assert ("login", "security key") in actions
    assert ("add security key", None) in actions


def test_a_prf_key_opens_the_identity_by_itself(
        services: ReviewerServices, keys: SecurityKeys, me: ReviewerSession, admin: Person,
        submitted: Submitted) -> None:
    authenticator = SoftAuthenticator(RP.origin, prf=True)
    _, unlocks = add_key(keys, me, admin, authenticator)
    assert unlocks
    break_password_seal(services, "admin")
    with pytest.raises(AuthenticationFailed):
        login(services, admin)  # the password's KEK opens nothing any more
    token = key_login(keys, admin, authenticator)
    assert read_message(services, token, admin, submitted) == "the ministry is lying"


def test_prf_given_only_when_asserting_comes_from_a_verified_follow_up(
        services: ReviewerServices, keys: SecurityKeys, me: ReviewerSession, admin: Person,
        submitted: Submitted) -> None:
    authenticator = SoftAuthenticator(RP.origin, prf=True, prf_at_creation=False)
    _, unlocks = add_key(keys, me, admin, authenticator)
    assert unlocks
    break_password_seal(services, "admin")
    token = key_login(keys, admin, authenticator)
    assert read_message(services, token, admin, submitted) == "the ministry is lying"


def test_a_follow_up_by_another_key_or_for_another_challenge_is_refused(
        keys: SecurityKeys, me: ReviewerSession, admin: Person) -> None:
    authenticator = SoftAuthenticator(RP.origin, prf=True, prf_at_creation=False)
    other = SoftAuthenticator(RP.origin, prf=True)
    options = keys.registration_options(me, RP, now=now(admin))
    response, _ = authenticator.create(options)
    _, stranger = other.create(options)
    with pytest.raises(KeyRefused):
        keys.register(me, RP, password=admin.password, name="k", response=response,
                      follow_up=other.follow_up(options, stranger), now=now(admin))
    options = keys.registration_options(me, RP, now=now(admin))
    response, credential = authenticator.create(options)
    replayed = authenticator.get({"publicKey": {"challenge": options["publicKey"]["challenge"]}},
                                 credential=credential)
    with pytest.raises(KeyRefused):
        keys.register(me, RP, password=admin.password, name="k", response=response,
                      follow_up=replayed, now=now(admin))
    assert keys.keys_of(me.reviewer_id) == []


def test_a_login_without_the_prf_output_falls_back_to_the_password(
        keys: SecurityKeys, me: ReviewerSession, admin: Person) -> None:
    authenticator = SoftAuthenticator(RP.origin, prf=True)
    add_key(keys, me, admin, authenticator)
    authenticator.prf = False  # a browser that does not pass PRF on
    key_login(keys, admin, authenticator)


def test_a_wrong_prf_output_opens_nothing(
        keys: SecurityKeys, me: ReviewerSession, admin: Person) -> None:
    authenticator = SoftAuthenticator(RP.origin, prf=True)
    add_key(keys, me, admin, authenticator)
    with pytest.raises(KeyLoginFailed):
        key_login(keys, admin, authenticator, prf_output=bytes(32))


def test_registration_needs_the_current_password(
        keys: SecurityKeys, me: ReviewerSession, admin: Person) -> None:
    options = keys.registration_options(me, RP, now=now(admin))
    response, _ = SoftAuthenticator(RP.origin).create(options)
    with pytest.raises(AuthenticationFailed) as refused:
        keys.register(me, RP, password="not it", name="k", response=response, now=now(admin))
    assert refused.value.code == "current_password_wrong"
    assert keys.keys_of(me.reviewer_id) == []


def test_an_account_has_several_keys_up_to_the_limit_and_removes_them(
        keys: SecurityKeys, me: ReviewerSession, admin: Person) -> None:
    authenticators = [SoftAuthenticator(RP.origin) for _ in range(MAX_KEYS + 1)]
    for number, authenticator in enumerate(authenticators[:MAX_KEYS]):
        add_key(keys, me, admin, authenticator, name=f"key {number}")
    with pytest.raises(InvalidInput):
        add_key(keys, me, admin, authenticators[-1])
    key_login(keys, admin, authenticators[3])  # any of them logs in
    first = keys.keys_of(me.reviewer_id)[0]
    with pytest.raises(AuthenticationFailed):
        keys.remove(me, first.id, "not it", now=now(admin))
    assert keys.remove(me, first.id, admin.password, now=now(admin)) == "key 0"
    with pytest.raises(NotFound):
        keys.remove(me, first.id, admin.password, now=now(admin))
    removed = authenticators[0]
    with pytest.raises(KeyLoginFailed):  # no longer offered; an answer made anyway fails
        key_login(keys, admin, removed, credential=removed.credentials[0])


def test_the_same_key_cannot_be_registered_twice(
        keys: SecurityKeys, me: ReviewerSession, admin: Person) -> None:
    authenticator = SoftAuthenticator(RP.origin)
    credential, _ = add_key(keys, me, admin, authenticator)
    options = keys.registration_options(me, RP, now=now(admin))
    assert options["publicKey"]["excludeCredentials"][0]["id"] == b64(credential.id)
    response, _ = authenticator.create(options, credential=credential)  # exclusion ignored
    with pytest.raises(KeyRefused):
        keys.register(me, RP, password=admin.password, name="again", response=response,
                      now=now(admin))
    assert [key.name for key in keys.keys_of(me.reviewer_id)] == ["blue key"]


# -- what is refused ------------------------------------------------------------------------------


def test_an_assertion_made_for_another_origin_is_refused(
        keys: SecurityKeys, me: ReviewerSession, admin: Person) -> None:
    authenticator = SoftAuthenticator(RP.origin)
    add_key(keys, me, admin, authenticator)
    for forged in ({"origin": "http://evil.localhost:8081"}, {"origin": "http://localhost:9999"},
                   {"origin": "https://localhost:8081"}, {"rp_id": "evil.localhost"}):
        with pytest.raises(KeyLoginFailed):
            key_login(keys, admin, authenticator, **forged)
    key_login(keys, admin, authenticator)


def test_a_page_of_another_origin_gets_nothing_from_the_answer(
        keys: SecurityKeys, me: ReviewerSession, admin: Person) -> None:
    """The phishing page's own origin as the expected one: the key's RP ID still differs."""
    authenticator = SoftAuthenticator(RP.origin)
    add_key(keys, me, admin, authenticator)
    evil = RelyingParty.of("http", "evil.localhost:8081")
    options = keys.login_options(admin.username, evil, nonce=NONCE, now=now(admin))
    answer = authenticator.get(options, origin=evil.origin)
    with pytest.raises(KeyLoginFailed):
        keys.login(admin.username, admin.password, answer, evil, nonce=NONCE, now=now(admin))


def test_a_registration_for_another_origin_is_refused(
        keys: SecurityKeys, me: ReviewerSession, admin: Person) -> None:
    for forged in ({"origin": "http://evil.localhost:8081"}, {"rp_id": "evil.localhost"}):
        options = keys.registration_options(me, RP, now=now(admin))
        response, _ = SoftAuthenticator(RP.origin).create(options, **forged)  # type: ignore[arg-type]
        with pytest.raises(KeyRefused):
            keys.register(me, RP, password=admin.password, name="k", response=response,
                          now=now(admin))
    assert keys.keys_of(me.reviewer_id) == []


def test_a_cloned_credential_whose_counter_goes_back_is_refused(
        services: ReviewerServices, keys: SecurityKeys, me: ReviewerSession,
        admin: Person) -> None:
    authenticator = SoftAuthenticator(RP.origin)
    credential, _ = add_key(keys, me, admin, authenticator)
    key_login(keys, admin, authenticator)
    key_login(keys, admin, authenticator)  # the counter is at 3 now
    for behind in (3, 2, 0):
        with pytest.raises(KeyLoginFailed):
            key_login(keys, admin, authenticator, sign_count=behind)
    with services.instance.store.db.reading() as conn:
        stored = conn.execute("SELECT sign_count FROM webauthn_credentials").fetchone()[0]
    assert stored == 3
    key_login(keys, admin, authenticator, sign_count=credential.sign_count + 5)


def test_an_authenticator_without_a_counter_may_stay_at_zero(
        keys: SecurityKeys, me: ReviewerSession, admin: Person) -> None:
    authenticator = SoftAuthenticator(RP.origin, counter=False)
    add_key(keys, me, admin, authenticator)
    for _ in range(3):
        key_login(keys, admin, authenticator)
    key_login(keys, admin, authenticator, sign_count=7)  # once it counts, it must go on
    with pytest.raises(KeyLoginFailed):
        key_login(keys, admin, authenticator, sign_count=0)


def test_a_challenge_is_used_once_bound_to_its_browser_and_expires(
        keys: SecurityKeys, me: ReviewerSession, admin: Person) -> None:
    authenticator = SoftAuthenticator(RP.origin)
    add_key(keys, me, admin, authenticator)
    options = keys.login_options("admin", RP, nonce=NONCE, now=now(admin))
    answer = authenticator.get(options)
    keys.login("admin", admin.password, answer, RP, nonce=NONCE, now=now(admin))
    replay = authenticator.get(options)  # the same challenge, a fresh counter
    with pytest.raises(KeyLoginFailed):
        keys.login("admin", admin.password, replay, RP, nonce=NONCE, now=now(admin))
    options = keys.login_options("admin", RP, nonce=NONCE, now=now(admin))
    with pytest.raises(KeyLoginFailed):  # another browser's cookie
        keys.login("admin", admin.password, authenticator.get(options), RP,
                   nonce=b"m" * 32, now=now(admin))
    issued = now(admin)
    options = keys.login_options("admin", RP, nonce=NONCE, now=issued)
    with pytest.raises(KeyLoginFailed):
        keys.login("admin", admin.password, authenticator.get(options), RP, nonce=NONCE,
                   now=issued + CHALLENGE_SECONDS + 1)
    admin.clock[0] = issued + CHALLENGE_SECONDS + 2


def test_a_registration_challenge_belongs_to_its_session(
        services: ReviewerServices, keys: SecurityKeys, me: ReviewerSession,
        admin: Person) -> None:
    other = login(services, admin)[1]
    options = keys.registration_options(me, RP, now=now(admin))
    response, _ = SoftAuthenticator(RP.origin).create(options)
    with pytest.raises(KeyRefused):
        keys.register(other, RP, password=admin.password, name="k", response=response,
                      now=now(admin))
    with pytest.raises(KeyRefused):  # used up by the refused attempt
        keys.register(me, RP, password=admin.password, name="k", response=response,
                      now=now(admin))


def test_every_failure_is_the_same_answer_and_counts_toward_the_lock(
        keys: SecurityKeys, me: ReviewerSession, admin: Person) -> None:
    authenticator = SoftAuthenticator(RP.origin)
    add_key(keys, me, admin, authenticator)
    stranger = SoftAuthenticator(RP.origin)
    stranger.create(keys.registration_options(me, RP, now=now(admin)))
    failures = [
        lambda: key_login(keys, admin, authenticator, password="wrong password"),
        lambda: key_login(keys, admin, authenticator, origin="http://evil.localhost:8081"),
        lambda: keys.login("admin", admin.password, "{not json", RP, nonce=NONCE,
                           now=now(admin)),
        lambda: keys.login("nobody", admin.password, authenticator.get(
            keys.login_options("admin", RP, nonce=NONCE, now=now(admin))), RP, nonce=NONCE,
            now=now(admin)),
        lambda: key_login(keys, admin, stranger, credential=stranger.credentials[0]),
        lambda: key_login(keys, admin, authenticator, sign_count=0),
    ]
    for failure in failures:
        with pytest.raises(KeyLoginFailed) as refused:
            failure()
        assert refused.value.code == "security_key_login_failed"
        assert str(refused.value) == "wrong username, password or code"
    with pytest.raises(AccountLocked):  # five of them were admin's ("nobody" counts apart)
        key_login(keys, admin, authenticator)


def test_options_for_a_name_without_keys_look_like_an_account_with_one(
        services: ReviewerServices, keys: SecurityKeys, me: ReviewerSession,
        admin: Person) -> None:
    add_key(keys, me, admin, SoftAuthenticator(RP.origin, prf=True))
    real = keys.login_options("admin", RP, nonce=NONCE, now=now(admin))["publicKey"]
    decoy = keys.login_options("nobody", RP, nonce=NONCE, now=now(admin))["publicKey"]
    again = keys.login_options("nobody", RP, nonce=NONCE, now=now(admin))["publicKey"]
    assert set(real) == set(decoy)
    assert len(decoy["allowCredentials"]) == len(real["allowCredentials"]) == 1
    assert decoy["allowCredentials"] == again["allowCredentials"]  # stable, like a real one
    assert set(decoy["extensions"]["prf"]["evalByCredential"]) == {
        decoy["allowCredentials"][0]["id"]}
    assert decoy["challenge"] != again["challenge"]


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_mangled_answer_is_a_refusal_never_a_crash(
        services: ReviewerServices, keys: SecurityKeys, me: ReviewerSession, admin: Person,
        data: st.DataObject) -> None:
    if not keys.keys_of(me.reviewer_id):
        add_key(keys, me, admin, SoftAuthenticator(RP.origin))
    authenticator = SoftAuthenticator(RP.origin)
    options = keys.login_options("admin", RP, nonce=NONCE, now=T0)
    answer = json.loads(authenticator.get(options, credential=SoftCredential("localhost")))
    path = data.draw(st.sampled_from([
        ("id",), ("rawId",), ("type",), ("response", "clientDataJSON"),
        ("response", "authenticatorData"), ("response", "signature"),
        ("clientExtensionResults",), ("response",)]))
    value = data.draw(st.one_of(st.none(), st.integers(), st.text(max_size=40),
                                st.lists(st.integers(), max_size=3),
                                st.dictionaries(st.text(max_size=5), st.text(max_size=5),
                                                max_size=2)))
    target = answer
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(KeyLoginFailed):
        keys.login("admin", admin.password, json.dumps(answer), RP, nonce=NONCE, now=T0)
    services.reviewers.forgive("admin")  # the same throttle: the fuzz runs past the lock


# -- the requirement and the reset -------------------------------------------------------------


def test_requiring_keys_refuses_codes_of_accounts_with_a_key_and_ends_other_sessions(
        services: ReviewerServices, keys: SecurityKeys, me: ReviewerSession, admin: Person
        ) -> None:
    enrolment = services.admin.accounts.add("bob", is_admin=False)[1]
    bob = enrol(services, "bob", enrolment.password, enrolment.totp_secret,
                "another long passphrase here")
    bob_token = login(services, bob)[0]
    authenticator = SoftAuthenticator(RP.origin)
    add_key(keys, me, admin, authenticator)
    assert keys.accounts_without_keys() == ["bob"]
    ended = keys.set_required(True, keep=me.id_hash, by="admin")
    assert ended >= 1
    assert keys.required()
    with pytest.raises(AuthenticationFailed):
        services.sessions.load(bob_token, now=now(bob))
    # admin has a key: a right password and code is refused like a wrong password
    _, at = admin.next_code()
    with pytest.raises(AuthenticationFailed) as refused:
        keys.refuse_code_login("admin", admin.password, now=at)
    assert refused.value.code == "login_failed"
    with pytest.raises(AuthenticationFailed) as wrong:
        keys.refuse_code_login("admin", "not the password", now=at)
    assert wrong.value.code == refused.value.code
    assert str(wrong.value) == str(refused.value)
    key_login(keys, admin, authenticator)
    # bob has none: his code still logs him in, to a session that must add a key
    keys.refuse_code_login("bob", bob.password, now=now(bob))
    bob_token, bob_session = login(services, bob)
    assert keys.needs_key(bob_token)
    bob_key = SoftAuthenticator(RP.origin)
    add_key(keys, bob_session, bob, bob_key)
    assert not keys.needs_key(bob_token)
    keys.set_required(False, keep=None, by="admin")
    assert not keys.needs_key(bob_token)
    keys.refuse_code_login("admin", admin.password, now=now(admin))  # codes work again


def test_the_admin_reset_drops_every_key_of_the_account(
        services: ReviewerServices, keys: SecurityKeys, me: ReviewerSession,
        admin: Person) -> None:
    enrolment = services.admin.accounts.add("carol", is_admin=False)[1]
    carol = enrol(services, "carol", enrolment.password, enrolment.totp_secret,
                  "carol's long passphrase words")
    session = login(services, carol)[1]
    authenticator = SoftAuthenticator(RP.origin, prf=True)
    add_key(keys, session, carol, authenticator)
    services.admin.accounts.reset(session.reviewer_id, by="admin")
    fresh = services.reviewers.by_username("carol")
    assert keys.keys_of(fresh.id) == []
    with services.instance.store.db.reading() as conn:
        assert conn.execute("SELECT count(*) FROM webauthn_credentials"
                            " WHERE reviewer_id = ?", (session.reviewer_id,)).fetchone()[0] == 0
    with pytest.raises(KeyLoginFailed):  # the old key is no longer offered nor accepted
        key_login(keys, carol, authenticator, credential=authenticator.credentials[0])


def test_a_deleted_account_takes_its_keys_along(
        services: ReviewerServices, keys: SecurityKeys, me: ReviewerSession,
        admin: Person) -> None:
    enrolment = services.admin.accounts.add("dave", is_admin=False)[1]
    dave = enrol(services, "dave", enrolment.password, enrolment.totp_secret,
                 "dave's long passphrase words")
    session = login(services, dave)[1]
    add_key(keys, session, dave, SoftAuthenticator(RP.origin))
    services.admin.accounts.delete(session.reviewer_id, by="admin")
    with services.instance.store.db.reading() as conn, pytest.raises(sqlite3.Error):
        conn.execute("INSERT INTO webauthn_credentials (reviewer_id, credential_id,"
                     " public_key, sign_count, transports, name, rp_id, created_hour)"
                     " VALUES (?, x'00', x'00', 0, '', 'k', 'localhost', 0)",
                     (session.reviewer_id,))
    with services.instance.store.db.reading() as conn:
        assert conn.execute("SELECT count(*) FROM webauthn_credentials").fetchone()[0] == 0


# -- the factor ----------------------------------------------------------------------------------


def test_the_prf_factor_is_hkdf_of_the_output_salted_per_credential() -> None:
    salt, other = bytes(PRF_SALT_BYTES), bytes([1]) * PRF_SALT_BYTES
    kek = PrfFactor(b"o" * 32, salt).kek()
    assert len(kek) == 32
    assert kek == PrfFactor(b"o" * 32, salt).kek()
    assert kek not in {PrfFactor(b"p" * 32, salt).kek(), PrfFactor(b"o" * 32, other).kek()}
    assert kek != b"o" * 32
    for output, bad_salt in ((b"o" * 31, salt), (b"o" * 32, b"short")):
        with pytest.raises(AuthenticationFailed):
            PrfFactor(output, bad_salt).kek()
    assert "o" * 8 not in repr(PrfFactor(b"o" * 32, salt))


def test_nothing_stored_opens_a_prf_seal_without_the_key(
        services: ReviewerServices, keys: SecurityKeys, me: ReviewerSession,
        admin: Person) -> None:
    add_key(keys, me, admin, SoftAuthenticator(RP.origin, prf=True))
    with services.instance.store.db.reading() as conn:
        row = conn.execute("SELECT * FROM webauthn_credentials").fetchone()
    assert len(row["prf_salt"]) == PRF_SALT_BYTES
    stored = b"".join(bytes(value) for value in row if isinstance(value, bytes))
    identity = str(me.own_identity())
    assert identity.encode() not in stored
    assert b"AGE-SECRET-KEY" not in stored.upper()
