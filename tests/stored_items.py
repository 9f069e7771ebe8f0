"""Reading a store's whole history in tests, through the query a refresh uses."""

from __future__ import annotations

from feedsvc.models import StoredItem
from feedsvc.store import Store


def every_item(store: Store) -> list[StoredItem]:
    """Every stored item, newest first (date, then listing order, then key): the newest
    ``item_count()`` items, as a refresh reads a feed's newest entries."""
    return store.newest_items(None, store.item_count())
