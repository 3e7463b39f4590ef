"""The gunicorn logger both apps use: no access log, no addresses, no times.

gunicorn's own "Invalid request from ip=..." warnings are the only place it
would write a client address; the address is blanked out. Timestamps are
left out too (DESIGN 1): an error line timed to the second could be matched
with a source's visit. Used by ``deploy/gunicorn_source.py`` and
``deploy/gunicorn_reviewer.py`` as ``logger_class``.
"""

from __future__ import annotations

import re
import sys
import typing as t

from gunicorn.glogging import Logger

__all__ = ["AddressFreeLogger"]

_ADDRESS = re.compile(r"ip=\S+")


class AddressFreeLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger without access log, client addresses or timestamps."""

    error_fmt = "[%(process)d] [%(levelname)s] %(message)s"

    def access(self, *args: t.Any, **kwargs: t.Any) -> None:
        return None

    def warning(self, msg: object, *args: t.Any, **kwargs: t.Any) -> None:
        super().warning(_ADDRESS.sub("ip=[not recorded]", str(msg)), *args, **kwargs)

    def exception(self, msg: object, *args: t.Any, **kwargs: t.Any) -> None:
        """A client that went quiet past its deadline is expected, not a fault worth a trace."""
        if isinstance(sys.exc_info()[1], (TimeoutError, BlockingIOError)):
            super().info("A client sent or read nothing for too long; its connection was closed.")
            return
        super().exception(msg, *args, **kwargs)
