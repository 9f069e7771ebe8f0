"""Sources: each one's health (successes, failures, validators) and its last read text.

A source's row says when it last succeeded and failed, its conditional-GET
validators, and the fingerprint of the configuration those belong to. Its
snapshot (``source_snapshots``) keeps the text last parsed and what parsing
it gave, so that a listing that only grew at the top is parsed from the top
down to where it stops changing (see ``feedsvc.listing.incremental``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedsvc.models import ListingItem, ListingSnapshot, ParseWarning, Validators
from feedsvc.store.schema import source_snapshots, sources


@dataclass(frozen=True)
class SourceState:
    """What the store knows of one source's health. Times are aware, UTC."""

    name: str
    validators: Validators
    last_success: dt.datetime | None
    last_attempt: dt.datetime | None
    last_error: str | None
    last_error_at: dt.datetime | None
    failing_since: dt.datetime | None
    consecutive_failures: int
    item_count: int
    last_found: int
    last_new: int
    last_updated: int
    last_warnings: int
    config_fingerprint: str | None = None
    """The fingerprint of the source's configuration last recorded (None: never recorded)."""
    failures_total: int = 0
    """Every failed attempt ever recorded for the source (a counter: it never goes down)."""
    body_digest: str | None = None
    """A digest of the bytes last read and merged (None: not known)."""


@dataclass(frozen=True)
class MergeCounts:
    """What one merge did: items in the listing, items new to the store, items changed.

    ``duplicates`` are the listing items dropped because an item above them
    in the same listing has the same key (date and normalised title) but says
    something different (a different spelling, summary, category...): by the
    identity rule they are one item, and the first one listed is kept. Exact
    repeats (a paginated listing showing an item twice) are dropped silently.
    ``touched_slugs`` are the categories whose feeds the merge may have
    changed, and ``touched`` whether it changed any feed at all.
    """

    found: int
    new: int
    updated: int
    duplicates: tuple[ListingItem, ...] = ()
    # Not counts: what the refresh needs to know to republish, left out of comparisons.
    touched: bool = field(default=False, compare=False)
    touched_slugs: frozenset[str] = field(default=frozenset(), compare=False)
    changed_keys: tuple[str, ...] = field(default=(), compare=False)
    """Keys of stored items the merge changed (content or place): their archive pages,
    if they are archived, are rendered again."""


@dataclass(frozen=True)
class SourceSnapshot:
    """A source's text listing as last read: the bytes and declared charset it came as,
    the configuration it was read under, and what reading it gave (see
    ``feedsvc.models.ListingSnapshot``, which the decoded text completes).

    Bytes, not text: a driver copies a long text into UTF-8 when it stores it.
    """

    config_fingerprint: str
    body: bytes
    charset: str | None
    language: str
    item_count: int
    warnings: tuple[ParseWarning, ...]
    plain: bool
    repeats: bool

    def listing(self, text: str) -> ListingSnapshot:
        """The snapshot as the incremental reader takes it, ``text`` being the decoded
        ``body``."""
        return ListingSnapshot(text=text, language=self.language, item_count=self.item_count,
                               warnings=self.warnings, plain=self.plain, repeats=self.repeats)


def source_state(conn: Connection, name: str) -> SourceState | None:
    row = conn.execute(sa.select(sources).where(sources.c.name == name)).mappings().first()
    return None if row is None else _source_state(row)


def source_states(conn: Connection) -> dict[str, SourceState]:
    rows = conn.execute(sa.select(sources).order_by(sources.c.name)).mappings().all()
    return {row["name"]: _source_state(row) for row in rows}


def record_success(
    conn: Connection, source: str, now: dt.datetime, validators: Validators,
    counts: MergeCounts | None, warnings: int, fingerprint: str | None,
    *, new_links: int = 0, body_digest: str | None = None,
) -> None:
    """Record a success; ``counts`` None when nothing was merged. ``new_links`` is how
    many items the source lists that it never listed before (its item count grows
    by that many); ``body_digest`` the digest of what was merged (None: the next
    read must parse whatever the bytes), left as it was when nothing was merged."""
    values: dict[str, Any] = {
        "etag": validators.etag, "last_modified": validators.last_modified,
        "last_success": now, "last_attempt": now, "failing_since": None,
        "consecutive_failures": 0,
    }
    if counts is not None:
        values.update(last_found=counts.found, last_new=counts.new,
                      last_updated=counts.updated, last_warnings=warnings,
                      body_digest=body_digest)
    if fingerprint is not None:
        values["config_fingerprint"] = fingerprint
    done = conn.execute(sources.update().where(sources.c.name == source).values(
        item_count=sources.c.item_count + new_links, **values))
    if done.rowcount == 0:
        conn.execute(sources.insert().values(name=source, item_count=new_links, **values))


def record_failure(
    conn: Connection, source: str, now: dt.datetime, error: str, fingerprint: str | None,
) -> SourceState:
    """Record a failed attempt (see ``Store.record_failure``); returns the new state."""
    row = conn.execute(sa.select(sources).where(sources.c.name == source)).mappings().first()
    changed = (fingerprint is not None and row is not None
               and row["config_fingerprint"] != fingerprint)
    failures = 1 + (row["consecutive_failures"] if row and not changed else 0)
    since = row["failing_since"] if row and row["failing_since"] else now
    values: dict[str, Any] = {
        "last_attempt": now, "last_error": error, "last_error_at": now,
        "failing_since": since, "consecutive_failures": failures,
        "failures_total": 1 + (row["failures_total"] or 0 if row else 0),
    }
    if fingerprint is not None:
        values["config_fingerprint"] = fingerprint
    if changed:
        values.update(etag=None, last_modified=None, body_digest=None)
    if row is None:
        conn.execute(sources.insert().values(name=source, item_count=0, **values))
    else:
        conn.execute(sources.update().where(sources.c.name == source).values(**values))
    stored = conn.execute(sa.select(sources).where(sources.c.name == source)).mappings().one()
    return _source_state(stored)


def _source_state(row: sa.RowMapping) -> SourceState:
    return SourceState(
        name=row["name"],
        validators=Validators(etag=row["etag"], last_modified=row["last_modified"]),
        last_success=row["last_success"], last_attempt=row["last_attempt"],
        last_error=row["last_error"], last_error_at=row["last_error_at"],
        failing_since=row["failing_since"],
        consecutive_failures=row["consecutive_failures"] or 0,
        item_count=row["item_count"] or 0, last_found=row["last_found"] or 0,
        last_new=row["last_new"] or 0, last_updated=row["last_updated"] or 0,
        last_warnings=row["last_warnings"] or 0,
        config_fingerprint=row["config_fingerprint"],
        failures_total=row["failures_total"] or 0,
        body_digest=row["body_digest"],
    )


# --- snapshots ---------------------------------------------------------------------


def read_snapshot(conn: Connection, source: str) -> SourceSnapshot | None:
    row = conn.execute(sa.select(source_snapshots).where(
        source_snapshots.c.source == source)).mappings().first()
    if row is None:
        return None
    warnings = tuple(ParseWarning(source, line, message)
                     for line, message in json.loads(row["warnings"]))
    return SourceSnapshot(
        config_fingerprint=row["config_fingerprint"], body=row["body"], charset=row["charset"],
        language=row["language"], item_count=row["item_count"], warnings=warnings,
        plain=row["plain"], repeats=row["repeats"],
    )


def write_snapshot(conn: Connection, source: str, snapshot: SourceSnapshot | None) -> None:
    """Keep ``snapshot`` as the source's (None forgets the one kept)."""
    conn.execute(source_snapshots.delete().where(source_snapshots.c.source == source))
    if snapshot is not None:
        conn.execute(source_snapshots.insert().values(
            source=source, config_fingerprint=snapshot.config_fingerprint,
            body=snapshot.body, charset=snapshot.charset, language=snapshot.language,
            item_count=snapshot.item_count, warnings=_warnings_json(snapshot.warnings),
            plain=snapshot.plain, repeats=snapshot.repeats,
        ))


def _warnings_json(warnings: Sequence[ParseWarning]) -> str:
    return json.dumps([[w.line, w.message] for w in warnings], ensure_ascii=False)

