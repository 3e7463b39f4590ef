"""Reviewer accounts and authentication.

- :mod:`.reviewers`: accounts, passwords, TOTP and the login throttle;
- :mod:`.reviewer_admin`: what admins do to accounts;
- :mod:`.sessions`: server-side reviewer sessions and the services of a login.
"""
