"""What /status says of the schedulers, read straight from a store.

The tests that start schedulers (in threads or child processes) read their
state the way ``/status`` does (``feedsvc.status.scheduler_json`` over the
store's records), without a web app in between.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from feedsvc.settings import Settings
from feedsvc.status import scheduler_json
from feedsvc.store import Store


def read_scheduler_state(
    settings: Settings, *, now: dt.datetime | None = None
) -> dict[str, Any] | None:
    """/status's ``scheduler`` object for the store of ``settings``, or None when no
    scheduler has ever recorded itself there. ``now`` defaults to the clock."""
    with Store.open(settings.storage.database) as store:
        instances = store.scheduler_instances()
        if not instances:
            return None
        return scheduler_json(instances, store.scheduler_lease_holder(), settings.schedule,
                              now=now or dt.datetime.now(dt.UTC))
