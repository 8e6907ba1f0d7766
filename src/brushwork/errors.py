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


class NonFiniteLossError(BrushworkError):
    """The loss became NaN or infinite; carries the last image that still had a finite loss."""

    exit_code = 3

    def __init__(self, message: str, last_good_image=None, iteration: int = 0):
        super().__init__(message)
        self.last_good_image = last_good_image
        self.iteration = iteration
