"""Submissions: what a source sends, encrypted as it streams in.

- :mod:`.intake`: a submission draft, its message and files, committed at once;
- :mod:`.file_names`: the one filter for uploaded file names;
- :mod:`.offload`: a stream's CPU and disk work on a background thread.
"""
