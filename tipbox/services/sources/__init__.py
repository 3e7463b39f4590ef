"""Returning sources: codename login, their sessions, replies to read and delete.

- :mod:`.returning`: the codename key derivation, login and replies;
- :mod:`.sessions`: revocable source sessions;
- :mod:`.low_priority`: Argon2 work that yields to page views under a flood.
"""
