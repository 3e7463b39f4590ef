"""The reviewers' inbox: sources, conversations, downloads, replies, deletion.

- :mod:`.conversations`: what a logged-in reviewer reads and does.
"""
