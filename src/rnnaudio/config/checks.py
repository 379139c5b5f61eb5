"""The error every bad config value raises, the two checks nearly all of them use, and what
such a message may quote: one line of another library's error, a URL without its password,
the names nearest a misspelt one."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any


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


def nearest(name: str, known: Sequence[str], shown: int = 12) -> str:
    """Up to ``shown`` of ``known``, sorted: those closest to ``name``, as a run logs ~80
    params and the one meant (``model.cell`` for ``model.cel``) must be among those shown."""
    if not known:
        return "none"
    if len(known) <= shown:
        return ", ".join(sorted(known))
    closest = sorted(difflib.get_close_matches(name, known, n=shown, cutoff=0.0))
    return f"{', '.join(closest)}, ... ({len(known)} in all)"


def first_line(error: object, default: str = "invalid configuration") -> str:
    """The first non-blank line of ``str(error)``: what a one-line message quotes of a
    library's error (SQLAlchemy's and MLflow's run to several lines)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else default


def without_password(text: str) -> str:
    """``text`` (a URL, or an error quoting one) as a message may show it: each password,
    in ``//user:password@`` or a ``password=`` query, becomes ``***``."""
    masked = _USERINFO_PASSWORD.sub(r"\1***@", text)
    return _QUERY_PASSWORD.sub(r"\1***", masked)


def shown_setting(key: str, url: str) -> str:
    """``key='url'`` as a message names the setting, its password masked."""
    return f"{key}={without_password(url)!r}"


# urllib's split of a netloc, by pattern: the password runs to the last "@" before the
# path (SQLAlchemy takes a raw "#", "?" or "@" in it), the user may hold an "@" itself
# (Azure's user@server), and digits after the colon that end the netloc are a port.
_USERINFO_PASSWORD = re.compile(r"(//[^/?#:\s]*:)(?!\d*(?:[/?#\s]|$))[^/\s]*@")
# A query value ends at "&", or where a message's quote around the URL does.
_QUERY_PASSWORD = re.compile(r"([?&][^=&\s]*password=)[^&\s'\"]*", re.IGNORECASE)


# What a message about a database whose driver module is missing advises.
INSTALL_DRIVER = "install the database's driver, e.g. pip install -e '.[postgres]' for PostgreSQL"
