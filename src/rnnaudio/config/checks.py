"""The error every bad config value raises, the two checks nearly all of them use, and what
such a message may quote: one line of another library's error, a URL without its password."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit


class ConfigError(ValueError):
    """A configuration value that cannot run; the message is one line for the user."""


def check_choice(group: str, name: str, value: Any, choices: Iterable[str]) -> None:
    choices = list(choices)
    if value not in choices:
        raise ConfigError(f"{group}.{name}={value!r} is not one of: {', '.join(choices)}")


def check_range(
    group: str, name: str, value: float, low: float | None = None, high: float | None = None
) -> None:
    limits = [f">= {low}" if low is not None else "", f"<= {high}" if high is not None else ""]
    if (low is not None and value < low) or (high is not None and value > high):
        valid = " and ".join(limit for limit in limits if limit)
        raise ConfigError(f"{group}.{name}={value!r} is out of range; valid values are {valid}")


def first_line(error: object, default: str = "invalid configuration") -> str:
    """The first non-blank line of ``str(error)``: what a one-line message quotes of a
    library's error (SQLAlchemy's and MLflow's run to several lines)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else default


def without_password(url: str) -> str:
    """``url`` as an error message may show it: a password in it becomes ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL at all (an unclosed IPv6 bracket, say): nothing to find
        return url
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
