"""Typed events: how a lower layer tells the layers above it what happened, without knowing them.

The machine signals that it was restored, stopped, or ended a slice; the Lab signals that it
stopped, recorded an exit or switched strategy. An observer ``connect``s a callback and gets a
function that disconnects it. A signal with no observers costs one truth test where it is
emitted (``if signal: signal.emit(x)``).
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Signal(Generic[T]):
    """One kind of event with a payload of type ``T``; observers are called in connection order."""

    __slots__ = ("name", "_observers")

    def __init__(self, name: str):
        self.name = name
        self._observers: list[Callable[[T], None]] = []

    def connect(self, observer: Callable[[T], None]) -> Callable[[], None]:
        """Call ``observer(payload)`` on every emit; returns a function that disconnects it."""
        if not callable(observer):
            raise TypeError(f"an observer of {self.name!r} must be callable")
        self._observers.append(observer)
        return lambda: self.disconnect(observer)

    def disconnect(self, observer: Callable[[T], None]) -> None:
        """Stop calling ``observer`` (no error if it was not connected)."""
        try:
            self._observers.remove(observer)
        except ValueError:
            pass

    def emit(self, payload: T) -> None:
        """Call every observer with ``payload`` (over a copy: an observer may disconnect)."""
        for observer in tuple(self._observers):
            observer(payload)

    def __bool__(self) -> bool:
        return bool(self._observers)

    def __len__(self) -> int:
        return len(self._observers)

    def __repr__(self) -> str:
        return f"<Signal {self.name} ({len(self._observers)} observers)>"
