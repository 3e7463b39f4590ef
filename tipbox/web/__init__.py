"""The Flask layer shared by the source and reviewer apps.

Public API: :func:`init_web` (cookies, CSRF, limits, headers, error pages, languages:
see :mod:`tipbox.web.i18n`),
:func:`instance` / :func:`install_instance` (services kept in
``app.extensions``) and :class:`UploadRequest` (streaming uploads).
Only this package and the app packages import Flask or Werkzeug.
"""

from tipbox.web.app import init_web
from tipbox.web.services import install_instance, instance
from tipbox.web.uploads import FileSink, FileWriter, UploadLimits, UploadRequest

__all__ = [
    "FileSink",
    "FileWriter",
    "UploadLimits",
    "UploadRequest",
    "init_web",
    "install_instance",
    "instance",
]
