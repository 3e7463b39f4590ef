"""What the fault tests share: an instance with one earlier submission and its server."""

from __future__ import annotations

from dataclasses import dataclass

from tests.servers import AppServer, FormClient, count_rows
from tipbox.config import Settings
from tipbox.services.instance import InitResult

EARLIER_MESSAGE = "an earlier tip that must survive"
EARLIER_FILE = b"earlier evidence\n" * 1000


@dataclass
class FaultSite:
    """An instance with one earlier submission and its running source app."""

    settings: Settings
    init: InitResult
    server: AppServer

    def client(self) -> FormClient:
        return FormClient(self.server.port)

    def submissions(self) -> int:
        return count_rows(self.settings, "submissions")
