"""The reviewers' inbox: sources, conversations, triage, notes, downloads, replies, deletion.

- :mod:`.conversations`: the sources list and what a reviewer reads and does
  in a conversation (downloads, replies, deletion);
- :mod:`.triage`: status, labels, assignment and the list's filters;
- :mod:`.notes`: internal notes, encrypted to the newsroom key;
- :mod:`.search`: full-text search, in memory, per session.
"""
