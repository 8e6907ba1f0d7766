"""Errors a user can act on. The CLI prints their message on one line and exits non-zero."""

from __future__ import annotations


class BrushworkError(Exception):
    """Base class: anything raised as this is the user's to fix, never a bug."""

    exit_code = 2


class ImageError(BrushworkError):
    """A file that cannot be read or written as an image."""


class WeightsError(BrushworkError):
    """Weights that cannot be found, downloaded, verified or loaded."""


class ConfigError(BrushworkError):
    """An option value that makes no sense (unknown layer, negative weight, ...)."""


class StoppedEarly(BrushworkError):
    """An optimisation that ended before its last iteration; carries the last good image."""

    def __init__(self, message: str, image=None, iteration: int = 0):
        super().__init__(message)
        self.image = image
        self.iteration = iteration


class NonFiniteLossError(StoppedEarly):
    """The loss became NaN or infinite; ``image`` is the last one with a finite loss."""

    exit_code = 3


class StylizeInterrupted(StoppedEarly):
    """Ctrl-C during optimisation; ``image`` is the result reached so far."""

    exit_code = 130
