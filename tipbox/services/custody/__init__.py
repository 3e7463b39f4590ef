"""Key custody: the newsroom keys, who holds them, their lifecycle, and what opens them.

- :mod:`.keyring`: newsroom keys and grants;
- :mod:`.unlock`: a factor (the password today) yields a key-encryption
  key, which opens a reviewer's sealed identity;
- :mod:`.key_files`: the public files of the keys directory;
- :mod:`.rotation`: rotate, re-wrap, destroy.
"""
