"""Reviewer accounts and authentication.

- :mod:`.reviewers`: accounts, login, enrolment, password change and grants;
- :mod:`.rules`: what a username and a (new) password must be;
- :mod:`.totp`: the second factor (codes, enrolment QR code);
- :mod:`.throttle`: the login throttle and lockouts;
- :mod:`.reviewer_admin`: what admins do to accounts;
- :mod:`.sessions`: server-side reviewer sessions and the services of a login.

What a password unlocks (the reviewer's own identity) is key custody:
:mod:`tipbox.services.custody.unlock`. The SQL is in :mod:`tipbox.store.reviewers`
and :mod:`tipbox.store.sessions`.
"""
