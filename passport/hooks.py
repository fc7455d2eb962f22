"""Extension points for registration: other apps are told what was registered, passport never imports them.

Custody registers a callback here (from its `AppConfig.ready`) that appends the `registered` custody
event of every new battery in the same transaction as the insert, so no battery exists without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accounts.models import Organisation
    from passport.models import Battery

RegisteredHook = Callable[..., None]

_on_registered: list[RegisteredHook] = []


def register_on_registered(hook: RegisteredHook) -> None:
    """Call `hook(batteries=, organisation=, user=, channel=)` inside every registration's transaction."""
    if hook not in _on_registered:
        _on_registered.append(hook)


def unregister_on_registered(hook: RegisteredHook) -> None:
    if hook in _on_registered:
        _on_registered.remove(hook)


def announce_registered(
    batteries: Sequence[Battery], *, organisation: Organisation, user: Any, channel: str
) -> None:
    """Tell every registered hook about batteries just inserted (still inside the insert's transaction)."""
    for hook in list(_on_registered):
        hook(batteries=batteries, organisation=organisation, user=user, channel=channel)
