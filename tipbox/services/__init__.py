"""Services: the business rules between the web layer and the core. Nothing here imports Flask.

Packages, each over the ones below it (``tests/test_import_cycles.py``):

- :mod:`.wiring`: the one place that builds the services, once per app or command;
- :mod:`.ops`: what the admin runs on the host (doctor, backup, notify,
  export, retention, break-glass recovery);
- :mod:`.inbox`: what reviewers read and do with sources and their items;
- :mod:`.submissions`: what a source sends, encrypted as it streams in;
- :mod:`.sources`: returning sources (codename login, sessions, replies);
- :mod:`.accounts`: reviewer accounts, passwords, TOTP, throttle, sessions;
- :mod:`.custody`: newsroom keys, grants, rotation, and the factors that
  open a reviewer's identity;
- shared modules: :mod:`.instance` (init and secrets), :mod:`.instance_settings`,
  :mod:`.audit` (the one audit log), :mod:`.sealing` (an item into a blob).
"""
