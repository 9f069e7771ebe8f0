"""Categories ever published: a category's feed, once published, is never dropped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedsvc.store.schema import KEYS_PER_QUERY, categories


@dataclass(frozen=True)
class CategoryRecord:
    """A category the store has published: its slug, its label as last published, and
    when it was first published."""

    slug: str
    label: str
    first_seen: dt.datetime


def known_categories(conn: Connection) -> list[CategoryRecord]:
    rows = conn.execute(sa.select(categories.c.slug, categories.c.label,
                                  categories.c.first_seen).order_by(categories.c.slug))
    return [CategoryRecord(slug=slug, label=label, first_seen=first_seen)
            for slug, label, first_seen in rows]


def remember_categories(conn: Connection, published: Mapping[str, str], now: dt.datetime) -> None:
    """Remember ``published`` (slug -> label shown): new slugs get ``first_seen = now``,
    known ones take the label given."""
    if not published:
        return
    wanted = sorted(published)
    stored: dict[str, str] = {}
    for start in range(0, len(wanted), KEYS_PER_QUERY):
        rows = conn.execute(sa.select(categories.c.slug, categories.c.label)
                            .where(categories.c.slug.in_(wanted[start:start + KEYS_PER_QUERY])))
        stored.update((slug, label) for slug, label in rows)
    new = [{"slug": slug, "label": label, "first_seen": now}
           for slug, label in sorted(published.items()) if slug not in stored]
    if new:
        conn.execute(categories.insert(), new)
    relabelled = [{"match_slug": slug, "label": label}
                  for slug, label in sorted(published.items())
                  if slug in stored and stored[slug] != label]
    if relabelled:
        conn.execute(categories.update().where(categories.c.slug == sa.bindparam("match_slug"))
                     .values(label=sa.bindparam("label")), relabelled)
