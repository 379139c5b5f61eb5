"""Whether a Lightning hook reaches anything: what lets the harness skip work nobody hears."""

from __future__ import annotations


def listens(obj: object, hook: str, base: type) -> bool:
    """Whether ``obj`` has a ``hook`` other than ``base``'s own (empty) method.

    More cautious than Lightning's ``is_overridden``: a hook set on the instance (a
    ``LambdaCallback``'s functions, a mock, any callable object, a partial) counts as
    listening, since it has no ``__func__`` to compare. A wrongly counted listener costs
    only the speed that skipping it would have saved.
    """
    method = getattr(obj, hook, None)
    if method is None:  # no such hook, or no object (a trainer without a module yet)
        return False
    return getattr(method, "__func__", None) is not getattr(base, hook)
