"""What the operator decides about categories and custom feeds, as pure rules.

``CategoryRules`` says under which category an item is published (``[categories]``:
labels merged into another, hidden labels, the items a new category feed needs).
``FeedFilter`` says whether an item belongs in a custom feed (``[[feeds]]``).
Both work on slugs, as the store indexes items by their category's slug, so that
a label merged or hidden is every label that slugifies alike. No I/O, no clock.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from feedsvc.identity import slugify
from feedsvc.models import StoredItem
from feedsvc.settings import CategorySettings, CustomFeedSettings

CUSTOM_PREFIX = "custom/"
"""Feed keys of custom feeds: ``custom/<slug>`` (published at ``feeds/custom/<slug>.atom``)."""


def custom_key(slug: str) -> str:
    return CUSTOM_PREFIX + slug


@dataclass(frozen=True)
class CategoryRules:
    """``merged``: slug of a merged label -> slug it is published under; ``labels``: the
    label of each merge target, as the operator wrote it; ``hidden``: slugs with no
    feed, left off entries; ``min_items``: items a category needs for a new feed."""

    merged: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    hidden: frozenset[str] = frozenset()
    min_items: int = 1

    @classmethod
    def from_settings(cls, settings: CategorySettings) -> CategoryRules:
        return cls(
            merged={slugify(alias): slugify(target) for alias, target in settings.merge.items()},
            labels={slugify(target): target for target in settings.merge.values()},
            hidden=frozenset(slugify(label) for label in settings.hide),
            min_items=settings.min_items,
        )

    def canonical(self, slug: str | None) -> str | None:
        """The slug an item of category ``slug`` is published under; None when the item
        is published without a category (it had none, or its label is hidden)."""
        if slug is None:
            return None
        target = self.merged.get(slug, slug)
        return None if target in self.hidden else target

    def members(self, slug: str) -> tuple[str, ...]:
        """The stored slugs whose items the category ``slug`` publishes: its own and
        those of the labels merged into it, sorted."""
        return tuple(sorted({slug, *(alias for alias, target in self.merged.items()
                                     if target == slug)}))

    def publishable(self, slugs: Iterable[str]) -> set[str]:
        """The categories ``slugs`` (stored slugs) are published under, hidden ones left out."""
        return {target for target in map(self.canonical, slugs) if target is not None}


NO_RULES = CategoryRules()


def as_published(item: StoredItem, rules: CategoryRules, labels: Mapping[str, str]
                 ) -> StoredItem:
    """``item`` with the label it is published under: its merge target's (``labels``
    first, then the one written in the settings), or none when hidden."""
    if item.category is None:
        return item
    slug = rules.canonical(slugify(item.category))
    label = None if slug is None else labels.get(slug, rules.labels.get(slug, item.category))
    return item if label == item.category else replace(item, category=label)


@dataclass(frozen=True)
class FeedFilter:
    """Whether an item belongs to one custom feed, from its ``[[feeds]]`` entry.

    An item belongs when its category (as published, after merging) is one of
    ``categories`` (none: any, also none), it was listed by one of ``sources``
    (checked by the store's query, not here), its title or summary matches
    one of ``include`` (none: any), and neither matches any of ``exclude``.
    Words match whole words, case-insensitively ("ILO" does not match
    "pilot"); with ``regex`` the patterns are Python regular expressions,
    searched case-insensitively.
    """

    settings: CustomFeedSettings
    rules: CategoryRules = NO_RULES

    @property
    def key(self) -> str:
        return custom_key(self.settings.slug)

    @property
    def filtered(self) -> bool:
        """Whether text filters apply: then the store's candidates must be read and
        tested one by one (at most ``settings.scan`` of them)."""
        return bool(self.settings.include or self.settings.exclude)

    def category_slugs(self) -> tuple[str, ...] | None:
        """The stored slugs whose items are candidates, or None for any category."""
        if not self.settings.categories:
            return None
        slugs: set[str] = set()
        for label in self.settings.categories:
            target = self.rules.merged.get(slugify(label), slugify(label))
            slugs.update(self.rules.members(target))
        return tuple(sorted(slugs))

    def matches(self, item: StoredItem) -> bool:
        """Whether the text filters let ``item`` (a candidate) in."""
        text = f"{item.title}\n{item.summary or ''}"
        settings = self.settings
        if settings.include and not _any_match(settings.include, settings.regex, text):
            return False
        return not (settings.exclude and _any_match(settings.exclude, settings.regex, text))


def _any_match(patterns: tuple[str, ...], regex: bool, text: str) -> bool:
    return any(pattern.search(text) for pattern in _compiled(patterns, regex))


@functools.lru_cache(maxsize=256)
def _compiled(patterns: tuple[str, ...], regex: bool) -> tuple[re.Pattern[str], ...]:
    """``patterns`` compiled once, case-insensitive; each on its own, so that group
    numbers and flags in one do not reach another."""
    return tuple(re.compile(p if regex else _word(p), re.IGNORECASE) for p in patterns)


def _word(phrase: str) -> str:
    """A phrase as whole words: its words in order, any spacing between them."""
    words = [re.escape(word) for word in phrase.split()]
    return r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)"
