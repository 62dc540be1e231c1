"""The daemon's heap and Python's cyclic garbage collector.

By the time a deployment is served, the daemon holds about 400,000 container objects that live
as long as it does (moto, botocore's models, the provisioned template). Every full collection
walked all of them: about 150-250 ms each with the GIL held, under `paycli load` a pause every
few hundred payments and 1.4 ms of CPU per payment in the collector (benchmarks/
daemon_profile.py's run, a gc callback's count). `settle()` after a deploy collects once and
moves what survives to the permanent generation (`gc.freeze()`), which collections skip; the
collector still runs on everything created later, so what payments leave behind is collected
as before. Objects frozen while garbage would stay; the collection just before prevents that.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect, then freeze every object that survived; the number now frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
