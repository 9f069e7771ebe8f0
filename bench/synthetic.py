"""A seeded synthetic news listing: many items over many months, ~200 categories,
credits and summaries. The same seed always gives the same listing."""

from __future__ import annotations

import datetime as dt
import random

from feedsvc.listing import render_numbered
from feedsvc.models import ListingItem

WORDS = (
    "labour", "workers", "social", "protection", "report", "launch", "decent", "work",
    "employment", "youth", "skills", "migrant", "rights", "safety", "recovery", "crisis",
    "policy", "partnership", "training", "women", "development", "global", "jobs", "wages",
)
TOPICS = ("Press release", "Video", "Article", "Statement", "Feature", "Interview",
          "Social protection", "Child labour", "Green jobs", "Youth employment")
REGIONS = ("Africa", "Americas", "Arab States", "Asia", "Europe", "Pacific", "Caribbean",
           "Andes", "Balkans", "Sahel", "Mekong", "Nordics", "Gulf", "Horn of Africa",
           "Central Asia", "Southern Cone", "Maghreb", "Baltics", "Great Lakes", "Levant")
CATEGORIES = tuple(f"{topic}: {region}" for topic in TOPICS for region in REGIONS)
"""200 category labels."""


def synthetic_items(
    count: int, *, seed: int = 2021, newest: dt.date = dt.date(2021, 12, 31), tag: str = "",
) -> list[ListingItem]:
    """``count`` plausible items, newest first, the same for the same arguments.

    About three items a day; 80% have a category, 30% a credit, 80% a summary.
    ``tag`` goes into every title, so that listings with different tags share no item.
    """
    chance = random.Random(seed)
    day = newest
    made = []
    for index in range(count):
        if chance.random() < 0.3:
            day -= dt.timedelta(days=1)

        def sentence(low: int, high: int) -> str:
            return " ".join(chance.choices(WORDS, k=chance.randint(low, high))).capitalize()

        made.append(ListingItem(
            title=f"{sentence(4, 10)} {tag}{index}",
            date=day,
            category=chance.choice(CATEGORIES) if chance.random() < 0.8 else None,
            credit=f"Photographer {index % 97}" if chance.random() < 0.3 else None,
            summary=f"{sentence(20, 40)}." if chance.random() < 0.8 else None,
        ))
    return made


def synthetic_listing(
    count: int, *, seed: int = 2021, newest: dt.date = dt.date(2021, 12, 31), tag: str = "",
) -> str:
    """The numbered text rendering of ``synthetic_items`` with the same arguments."""
    return render_numbered(synthetic_items(count, seed=seed, newest=newest, tag=tag))
