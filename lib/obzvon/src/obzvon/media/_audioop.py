"""One place that imports audioop, so its 3.11 deprecation warning is silenced once.

audioop is removed in 3.13; the `audioop-lts` wheel provides the same module there.
"""

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = ["audioop"]
