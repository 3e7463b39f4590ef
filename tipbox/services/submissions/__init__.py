"""Submissions: what a source sends, encrypted as it streams in.

- :mod:`.intake`: a submission draft, its message and files, committed at once;
- :mod:`.file_names`: the one filter for uploaded file names;
- :mod:`.offload`: a stream's CPU and disk work on a background thread;
- :mod:`.receipts`: form tokens and sealed one-time receipts;
- :mod:`.sent_forms`: one commit per form across the worker processes.
"""
