"""Operations: what the admin runs on the host.

- :mod:`.doctor`: check an instance and say how to fix it;
- :mod:`.backup`: encrypted backups and their restore;
- :mod:`.notify`: batched e-mail that new submissions wait;
- :mod:`.export`: offline export of every submission;
- :mod:`.retention`: crypto-shred what is older than the retention period;
- :mod:`.recovery`: break-glass recovery with the offline recovery identity.
"""
