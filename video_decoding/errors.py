"""Typed video errors: every one names the file and says what was wrong.

Callers decide what to do with a bad video (selection records the sample as failed, verl's dataset filter
reports it); the loader never returns fewer frames than it was asked for.
"""

from __future__ import annotations

__all__ = [
    "VideoDecodeError",
    "VideoError",
    "VideoNotFoundError",
    "VideoOpenError",
    "VideoTruncatedError",
]


class VideoError(ValueError):
    """Base class: a video file could not give the frames asked for.

    ``str(err)`` always starts with the file path, so a log line is enough to find the bad row.

    >>> str(VideoNotFoundError("/data/a.mp4", "no such file"))
    '/data/a.mp4: no such file'
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self) -> tuple[type[VideoError], tuple[str, str]]:
        # Errors cross process boundaries (dataset workers, Ray); keep both fields on the way.
        return (type(self), (self.path, self.reason))


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The path does not exist or is not a regular file."""


class VideoOpenError(VideoError):
    """The container cannot be opened or has no decodable video stream (corrupt, not a video, ...)."""


class VideoDecodeError(VideoError):
    """The decoder failed part-way through the file."""


class VideoTruncatedError(VideoError):
    """Fewer frames came out of the file than its index promised or than were asked for.

    ``asked`` and ``got`` carry the counts for callers that tally failures.
    """

    def __init__(self, path: str, reason: str, *, asked: int = 0, got: int = 0) -> None:
        self.asked = asked
        self.got = got
        super().__init__(path, reason)

    def __reduce__(self) -> tuple[type[VideoError], tuple[str, str]]:
        return (_rebuild_truncated, (self.path, self.reason, self.asked, self.got))  # type: ignore[return-value]


def _rebuild_truncated(path: str, reason: str, asked: int, got: int) -> VideoTruncatedError:
    return VideoTruncatedError(path, reason, asked=asked, got=got)
