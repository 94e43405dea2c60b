"""The never-break rule of the PyTorch front ends: a failing signal is
switched off with one warning, and training goes on."""

import os
import sys
import warnings

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class TrainHealthWarning(UserWarning):
    """A signal switched off after an error, or a setup the monitor refuses."""


class Guard:
    """`guard(signal, fn, *args)` runs fn; on failure it switches `signal`
    off (`disabled`, shared with the readers) with one warning."""

    def __init__(self, owner="TrainHealthMonitor"):
        self.owner = owner
        self.disabled = set()
        self._warned = set()

    def __call__(self, signal, fn, *args):
        if signal in self.disabled:
            return None
        try:
            return fn(*args)
        except Exception as e:  # monitoring must never stop training
            self.disabled.add(signal)
            self.warn_once(
                signal,
                "%s: %s switched off after an error (%s: %s); training "
                "continues." % (self.owner, signal, type(e).__name__, e))
            return None

    def warn_once(self, key, message):
        if key in self._warned:
            return
        self._warned.add(key)
        warnings.warn(message, TrainHealthWarning, stacklevel=user_stacklevel())


def user_stacklevel():
    """The stack level of the first caller outside this package (the line
    of the user's loop that a warning is about)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(
            _PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level
