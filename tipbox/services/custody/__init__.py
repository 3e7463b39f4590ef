"""Key custody: the newsroom keys, who holds them, and their lifecycle.

- :mod:`.keyring`: newsroom keys and grants;
- :mod:`.key_files`: the public files of the keys directory;
- :mod:`.rotation`: rotate, re-wrap, destroy;
- :mod:`.recovery`: break-glass recovery with the offline identity.
"""
