"""What every view shares: an ipywidgets widget bound to one Lab that observes the Lab's events
and redraws itself from the Lab's public API, never changing the Lab while it draws.

Three rules keep that cheap and safe:

* **Throttle.** A run in the background stops after every slice (``10 ** speed`` instructions),
  and a notebook loop of ``lab.step()`` stops after every instruction: redrawing on each stop would
  cost more than the run. A view redraws on an event at most ``MAX_REDRAWS_PER_S`` times a second
  (graphviz views less often); an event inside that interval only marks the view *due*, and due
  views redraw when the cell ends, when an action ends, or at the next event past the interval.
* **One redraw per action.** While a control drives the Lab (:func:`action`), the events it causes
  only mark views due; when it ends, every due view of that Lab redraws once.
* **One lock per Lab.** Unicorn is not thread-safe, and the Run button drives the Lab from a
  background thread: it holds the Lab's lock (:func:`lab_lock`) for each slice, and every redraw
  takes the same lock, so no view reads the core in the middle of a slice.

Every label a view shows goes through :func:`vlab.tr` while it draws, so a redraw is all a view
needs when ``vlab.set_language`` switches: every open view (and layout) redraws at once
(:func:`follow_language`; the views are held weakly, a closed or forgotten one is dropped).
"""

from __future__ import annotations

import html
import threading
import time
import weakref
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, ClassVar, Iterator

import ipywidgets as W

from .. import i18n
from ..i18n import tr
from .display import block

if TYPE_CHECKING:
    from ..events import Signal
    from ..lab import Lab

MAX_REDRAWS_PER_S = 10


def h(text: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(text))


class _LabSync:
    """Per Lab, shared by all its views and controls: the lock and the depth of actions."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.acting = 0


_SYNC: weakref.WeakKeyDictionary[Lab, _LabSync] = weakref.WeakKeyDictionary()
_SYNC_GUARD = threading.Lock()
_PENDING: weakref.WeakSet[LabView] = weakref.WeakSet()  # views whose redraw was postponed
_PENDING_GUARD = threading.Lock()
_hooked_shell = None  # the IPython shell whose post_run_cell event flushes due views


def _sync(lab: Lab) -> _LabSync:
    with _SYNC_GUARD:
        found = _SYNC.get(lab)
        if found is None:
            found = _SYNC[lab] = _LabSync()
        return found


def lab_lock(lab: Lab) -> threading.RLock:
    """The lock held while the UI drives ``lab`` (an action, a background slice) or draws it."""
    return _sync(lab).lock


@contextmanager
def action(lab: Lab) -> Iterator[None]:
    """Drive ``lab`` as one action: the events it causes only mark views due; afterwards every
    due view of the Lab redraws once."""
    sync = _sync(lab)
    with sync.lock:
        sync.acting += 1
        try:
            yield
        finally:
            sync.acting -= 1
    flush(lab)


def flush(lab: Lab | None = None, *, wait: bool = True) -> None:
    """Redraw every view whose redraw was postponed (those of ``lab``, or all of them). With
    ``wait=False`` a view whose Lab is running in the background stays due (the run redraws it
    when it stops) instead of waiting for the slice to end."""
    with _PENDING_GUARD:
        views = [v for v in _PENDING if lab is None or v.lab is lab]
        for v in views:
            _PENDING.discard(v)
    for view in views:
        if not view.due:
            continue
        lock = lab_lock(view.lab)
        if not lock.acquire(blocking=wait):
            view.postpone()
            continue
        try:
            view.refresh()
        finally:
            lock.release()


_SPEAKING: weakref.WeakSet = weakref.WeakSet()  # open views and layouts, redrawn in a new language
_SPEAKING_GUARD = threading.Lock()
_language_hooked = False


def follow_language(widget) -> None:
    """Call ``widget.language_changed()`` whenever ``vlab.set_language`` switches (until
    :func:`forget_language` or the widget is garbage)."""
    global _language_hooked
    with _SPEAKING_GUARD:
        if not _language_hooked:
            i18n.on_language_change(_language_changed)
            _language_hooked = True
        _SPEAKING.add(widget)


def forget_language(widget) -> None:
    """Stop redrawing ``widget`` on a language switch (it was closed)."""
    with _SPEAKING_GUARD:
        _SPEAKING.discard(widget)


def _language_changed(_language: str) -> None:
    with _SPEAKING_GUARD:
        widgets = list(_SPEAKING)
    for widget in widgets:
        try:
            widget.language_changed()
        except Exception as e:  # one view that cannot draw must not keep the others English
            widget.log.error("vlab: %s could not redraw in another language: %r",
                             type(widget).__name__, e)


def _after_cell(result=None) -> None:
    flush(wait=False)


def _flush_after_cells() -> None:
    """In IPython, redraw due views whenever a cell ends (a loop of ``lab.step()`` in a cell
    ends with the views showing its last step)."""
    global _hooked_shell
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return
    shell = get_ipython()
    if shell is None or shell is _hooked_shell:
        return
    shell.events.register("post_run_cell", _after_cell)
    _hooked_shell = shell


class LabView:
    """Mixed into an ipywidgets class: a view of one Lab. Subclasses implement :meth:`draw`
    (read the Lab, set their widgets' values) and may observe more signals with :meth:`_observe`.
    Input handlers return at once while ``self._drawing`` (setting a widget's value in
    :meth:`draw` fires its observers; that must never act on the Lab)."""

    css: ClassVar[str] = "vlab-view"
    #: Seconds between two redraws caused by events (at most MAX_REDRAWS_PER_S a second).
    min_interval: ClassVar[float] = 1 / MAX_REDRAWS_PER_S
    _observing: list[Callable[[], None]]

    def __init__(self, lab: Lab, **kwargs):
        super().__init__(**kwargs)
        self.lab = lab
        self.due = False
        self._drawing = False
        self._drawn_at = float("-inf")  # when an event last redrew this view (monotonic)
        self._observing = []
        self.add_class(self.css)
        self._observe(lab.events.stopped)
        self._observe(lab.events.switched, self._lab_switched)
        _flush_after_cells()
        follow_language(self)
        self.refresh()

    def _observe(self, signal: Signal, observer: Callable | None = None) -> None:
        """Connect to one of the Lab's signals (disconnected again by :meth:`close`)."""
        self._observing.append(signal.connect(observer or self._lab_changed))

    def _lab_changed(self, _payload=None) -> None:
        """The Lab stopped, switched or was changed by an action: redraw, or mark due."""
        if _sync(self.lab).acting:
            self.postpone()
            return
        now = time.monotonic()
        if now - self._drawn_at < self.min_interval:
            self.postpone()
            return
        self._drawn_at = now
        try:
            self.refresh()
        except Exception as e:  # called from inside lab.step() & co.: a view must not break them
            self._draw_failed(e)

    def _lab_switched(self, strategy: str) -> None:
        """The Lab rebooted (under ``strategy``): a view that compares with what it drew before
        forgets it here."""
        self._lab_changed(strategy)

    def postpone(self) -> None:
        self.due = True
        with _PENDING_GUARD:
            _PENDING.add(self)

    def refresh(self) -> None:
        """Redraw now from the Lab (reads only)."""
        with _sync(self.lab).lock:
            self.due = False
            self._drawing = True
            try:
                self.draw()
            finally:
                self._drawing = False

    def draw(self) -> None:
        """Read the Lab and set this view's widgets (never change the Lab), every label
        through :func:`vlab.tr`."""
        raise NotImplementedError

    def language_changed(self) -> None:
        """``vlab.set_language`` switched: redraw now, in the new language."""
        self.refresh()

    def _draw_failed(self, error: Exception) -> None:
        self.log.error("vlab: %s could not draw: %r", type(self).__name__, error)

    def close(self) -> None:
        """Stop observing the Lab and close the widget."""
        for disconnect in getattr(self, "_observing", ()):
            disconnect()
        self._observing = []
        forget_language(self)
        super().close()


class HtmlView(LabView, W.HTML):
    """A view drawn as one block of HTML: subclasses implement :meth:`render`."""

    def draw(self) -> None:
        self.value = block(self.render())

    def render(self) -> str:
        """The view as HTML (what :meth:`draw` shows)."""
        raise NotImplementedError

    def _draw_failed(self, error: Exception) -> None:
        self.value = ("<i style='color:#d62728'>" + h(tr("{view} could not draw: {error}").format(
            view=type(self).__name__, error=f"{type(error).__name__}: {error}")) + "</i>")
