"""``python -m tipbox``: the command line (see :mod:`tipbox.cli`)."""

from tipbox.cli import main

if __name__ == "__main__":
    main()
