"""Services: the business rules between the web layer and the core.

Nothing here imports Flask. An app factory calls :func:`open_instance` once
and hands the resulting :class:`Instance` to its views.
"""

from tipbox.services.instance import (
    InitResult,
    Instance,
    InstanceSecrets,
    init_instance,
    is_initialised,
    open_instance,
)

__all__ = [
    "InitResult",
    "Instance",
    "InstanceSecrets",
    "init_instance",
    "is_initialised",
    "open_instance",
]
