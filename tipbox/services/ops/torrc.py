"""The onion services a torrc declares, for ``doctor`` (see ``deploy/torrc``).

Each ``HiddenServiceDir`` line starts a service; the ``HiddenServicePort``
and other ``HiddenService*`` lines after it, up to the next one, belong to
it. Keywords are case-insensitive, as Tor reads them; ``#`` starts a
comment. ``%include`` is not followed. Reading only: nothing here talks to
Tor or looks into its directories (``/var/lib/tor`` is readable by Tor's
user alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["OnionServiceLines", "onion_services"]


@dataclass(frozen=True)
class OnionServiceLines:
    """One service: its directory, its ports' targets (``host:port``) and other options.

    ``options`` maps lower-cased keywords to their last value.
    """

    directory: str
    targets: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    def forwards_to(self, bind: str) -> bool:
        """Whether a ``HiddenServicePort`` of this service leads to ``bind`` (host:port)."""
        return bind in self.targets


def onion_services(torrc: str) -> list[OnionServiceLines]:
    """The services of ``torrc``'s text, in order."""
    services: list[OnionServiceLines] = []
    for line in torrc.splitlines():
        keyword, _, value = line.split("#", 1)[0].strip().partition(" ")
        keyword, value = keyword.lower(), value.strip()
        if keyword == "hiddenservicedir":
            services.append(OnionServiceLines(value))
        elif keyword == "hiddenserviceport" and services:
            services[-1].targets.append(_target(value))
        elif keyword.startswith("hiddenservice") and services:
            services[-1].options[keyword] = value
    return services


def _target(value: str) -> str:
    """``VIRTPORT [TARGET]`` to ``host:port``: a bare port is on 127.0.0.1, no target
    means the virtual port itself."""
    virtual, _, target = value.partition(" ")
    target = target.strip() or virtual
    return f"127.0.0.1:{target}" if target.isdigit() else target
