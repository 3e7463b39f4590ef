"""WSGI entry points: ``gunicorn app:source`` (and, later, ``app:reviewer``).

Each app is built once from the environment's settings. They are separate
WSGI apps served by separate gunicorn processes on separate ports; the source
app does not even register the reviewer routes.
"""

from tipbox.config import load_settings
from tipbox.reviewer import create_reviewer_app
from tipbox.source import create_source_app

source = create_source_app(load_settings())
reviewer = create_reviewer_app(load_settings())
