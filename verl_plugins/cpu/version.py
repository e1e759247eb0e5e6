"""The one verl release the CPU backend is written for, and the check that refuses any other."""

from __future__ import annotations

__all__ = ["SUPPORTED_VERL_VERSION", "VerlVersionError", "check_verl_version"]

#: The only verl release this backend is written for.
SUPPORTED_VERL_VERSION = "0.9.1"


class VerlVersionError(RuntimeError):
    """The installed verl is not the release this backend was written against."""


def check_verl_version(version: str | None = None) -> str:
    """Return the verl version, raising :class:`VerlVersionError` unless it is 0.9.1.

    >>> check_verl_version("0.9.1")
    '0.9.1'
    >>> check_verl_version("0.10.0")
    Traceback (most recent call last):
    ...
    verl_plugins.cpu.version.VerlVersionError: verl_plugins.cpu supports verl==0.9.1 only, found verl 0.10.0: ...
    """
    if version is None:
        import verl

        version = str(verl.__version__)
    if version != SUPPORTED_VERL_VERSION:
        raise VerlVersionError(
            f"verl_plugins.cpu supports verl=={SUPPORTED_VERL_VERSION} only, found verl {version}: "
            "its CPU fixes patch verl internals that change between releases. "
            f'Install it with `pip install --no-deps "verl=={SUPPORTED_VERL_VERSION}"`, '
            "or unset VERL_PLATFORM/VERL_USE_EXTERNAL_MODULES to run on GPUs."
        )
    return version
