# The seed listings write typographic quotes and dashes; the fixtures keep them.
# ruff: noqa: RUF001
"""Sample FeedSpecs for tests: the twenty seed listing items, and hostile text.

Everything is fixed: times, ids, URLs. ``seed_spec()`` is what the render
golden files are made from; other tests may build their own specs from
``seed_entries()`` or ``make_entry()``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from zoneinfo import ZoneInfo

from feedsvc.collate import published_at
from feedsvc.models import Entry, FeedSpec

BASE_URL = "http://127.0.0.1:8000/"
SITE_TITLE = "ILO Newsroom"
SITE_DESCRIPTION = "News items from the ILO Newsroom listing pages"
ZONE = ZoneInfo("Europe/Zurich")

# (date, category, credit, title, summary) newest first, ties in listing order,
# as the two bundled listings say them.
SEED_ITEMS: tuple[tuple[str, str | None, str | None, str, str | None], ...] = (
    ("2021-11-15", "Social dialogue", "© ILO 2021",
     "ILO launches new tool on social dialogue",
     "The new ILO tool, which outlines steps to create effective and inclusive social "
     "dialogue, will assist with the achievement of several UN Sustainable Development "
     "Goals."),
    ("2021-11-09", "ILO in action", None,
     "We work to end child labour in DR Congo’s cobalt mines",
     "ILO Chief Technical Advisor, Josée Blandine Ongotto, speaks from the field about the "
     "COTECCO Project, which is combating child labour in cobalt mining in the Democratic "
     "Republic of Congo, with funding from the US Department of Labor."),
    ("2021-11-08", "Social protection", "© Vitor Marinho 2021",
     "ILO reaches ratification target for landmark social security Convention",
     "Paraguay has become the 60th country to ratify the flagship ILO social security "
     "Convention, No.102, reaching a target set in 2012 by the ILO’s Governing Body."),
    ("2021-11-08", "Social protection", None,
     "Social protection for migrant workers, refugees and their families",
     "4.1 billion individuals worldwide have no access to social protection. This includes "
     "millions of migrant workers, refugees, and their families. They face legal and "
     "practical challenges to access social protection. Many options exist to secure and "
     "maintain social security rights across borders and address the protection gaps, "
     "inequalities and discrimination evidenced during the COVID-19 pandemic."),
    ("2021-11-05", None, "© COP26 2021",
     "ILO welcomes COP26 Just Transition Declaration",
     "The ILO plays key role in developing the Just Transition Declaration, agreed at the "
     "UN Climate Summit in Glasgow."),
    ("2021-11-04", "Article", None,
     "Entrepreneurial skills empower women of East Nusa Tenggara to build businesses",
     "Women in East Nusa Tenggara (NTT) benefit from the ILO training programmes held with "
     "its partners. The women participants are able to increase their incomes and realize "
     "their dreams. These are the stories of Bibi Dida and Semaya Atamai."),
    ("2021-11-03", "ILO in action", None,
     "Small-holder farmers reap benefit of ILO rural development project",
     "ILO Chief Technical Advisor, Nashwa Belal, speaks from the field about the EYE "
     "Project in Egypt, which promotes rural development, while helping businesses in the "
     "country’s dairy sector."),
    ("2021-11-03", "Video", None,
     "ILO: Pandemic hit on jobs worse than thought",
     "Market Edge of the ABS-CBN News Channel (ANC) looks at how hot or cold the labour "
     "market is, and where in the two-way speed recovery is the Philippines. International "
     "Labour Organization’s (ILO) Labour Economist for Asia and the Pacific Christian "
     "Viegelahn joins live from Bangkok and talks about the eighth edition of the ILO "
     "Monitor: COVID-19 and the world of work."),
    ("2021-11-01", "Greening the ILO", "© ILO 2021",
     "What is the ILO doing to become greener?",
     "The ILO has been mainstreaming environmental sustainability in its operations and "
     "programmatic work."),
    ("2021-10-31", "G20 Leaders' Summit", None,
     "Sustainable development goals set back further by COVID-19 crisis",
     "The world was already badly off-track before the pandemic in realizing the UN "
     "Sustainable Development Goals. Now the situation has dramatically worsened, said ILO "
     "Director-General Guy Ryder in remarks at the G20 Leaders’ Summit."),
    ("2021-01-27", "Press release", None,
     "ILO becomes member of International Aid Transparency Initiative (IATI)",
     None),
    ("2021-01-27", None, "© René Levita 2021",
     "From prison to a better life",
     "Sergio was arrested and jailed in Madagascar when he was 16 for stealing vanilla. "
     "Thanks to vocational training he’s learned to be a bricklayer and no longer engages "
     "in petty crime. Read his story on our new Voices multimedia platform."),
    ("2021-01-26", "COVID-19: Protecting workers in the workplace", None,
     "ILO and FAO join forces to keep logging safe",
     "The COVID-19 pandemic has had a significant impact on logging operations around the "
     "world, with direct and serious implications for workers and enterprises. As economic "
     "activities restart, companies and workers must find ways to adapt to new realities. "
     "The ILO and FAO have joined forces and released a practical and participatory "
     "checklist to help companies, workers and customers stay safe and prevent the spread "
     "of COVID-19, while mitigating the social economic impact of COVID-19."),
    ("2021-01-25", "COVID-19: ILO Monitor – 7th edition", "© Fahad Abdullah Kaizer/UN Women 2021",
     "ILO: Uncertain and uneven recovery expected following unprecedented labour market "
     "crisis",
     "The latest analysis of the labour market impact of COVID-19 by the ILO, records "
     "massive damage to working time and income, with prospects for a recovery in 2021 "
     "slow, uneven and uncertain unless early improvements are supported by human-centred "
     "recovery policies."),
    ("2021-01-21", "Video", None,
     "‘Action pledges’ needed to end child labour",
     "Representatives from governments, worker and employer organizations, international "
     "agencies and civil society outlined how they intend to eradicate child labour by "
     "2025, at a virtual event to launch the International Year for the Elimination of "
     "Child Labour."),
    ("2021-01-21", None, "© Seng Mai / Photo Doc 2021",
     "Child labour in Myanmar’s jade mines is a deadly gamble",
     "Min Min is 13 and scavenges for scraps of jade stone in northern Myanmar, “the land "
     "of jade”. It’s a hazardous undertaking. In 2020 nearly 200 people died from a "
     "mudslide at a nearby mining site. Read his story on our new Voices multimedia "
     "platform."),
    ("2021-01-21", "Press release", None,
     "ILO and LinkedIn launch data insights partnership",
     "The International Labour Organization (ILO), the Partnership for Action on Green "
     "Economy (PAGE) and LinkedIn have launched a two-year partnership."),
    ("2021-01-20", "Forced labour", None,
     "Chile ratifies the Protocol to Convention No. 29, reaffirming its commitment to "
     "fight against forced labour",
     "Chile ratified the ILO Protocol of 2014 to the Forced Labour Convention, 1930 . With "
     "the culmination of this process, Chile becomes the third country in South America to "
     "take on the challenge of moving forward to become a country free of forced labour."),
    ("2021-01-20", "Media advisory", None,
     "ILO to release new report on the effects of COVID-19 on labour markets",
     None),
    ("2021-01-20", "Ship to Shore Rights", None,
     "Decent work for fishing and seafood migrant workers in Asia Pacific",
     "European Union and United Nations continue efforts to support safe labour migration "
     "and decent work in the fishing and seafood processing sectors in South East Asia"),
)

# Items edited after publication: their `updated` is later than `published`.
EDITED = {"2021-11-08-social-protection-for-migrant-workers-refugees-and-their-families":
          dt.datetime(2021, 11, 10, 9, 30, tzinfo=ZONE)}


def slugify(text: str) -> str:
    """A readable ASCII slug; good enough for fixtures, not the service's own rule."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def make_entry(
    date: str,
    title: str,
    *,
    category: str | None = None,
    credit: str | None = None,
    summary: str | None = None,
    updated: dt.datetime | None = None,
    image: str | None = None,
    language: str | None = "en",
) -> Entry:
    """An entry published on ``date`` as collating publishes a listed day (11:30 UTC, in
    the site's zone), updated then too unless ``updated`` is given."""
    item_id = f"{date}-{slugify(title)}"[:80].rstrip("-")
    published = published_at(dt.date.fromisoformat(date), ZONE)
    return Entry(
        guid=f"tag:127.0.0.1,2021:items/{item_id}",
        item_id=item_id,
        title=title,
        published=published,
        updated=updated or published,
        category=category,
        category_slug=slugify(category) if category else None,
        credit=credit,
        summary=summary,
        link=f"{BASE_URL}items/{item_id}",
        image=image,
        language=language,
    )


def first_seen(date: str, rank_in_day: int) -> dt.datetime:
    """When a refresh first saw an item: 18:00 of its date, a minute earlier per rank.

    Items of one day get distinct times, the first listed the latest, since
    Atom entries sharing an ``updated`` value draw a validator warning.
    """
    evening = dt.datetime.combine(dt.date.fromisoformat(date), dt.time(18), tzinfo=ZONE)
    return evening - dt.timedelta(minutes=rank_in_day)


def seed_entries() -> tuple[Entry, ...]:
    """The twenty seed items as entries, newest first."""
    entries = []
    ranks: dict[str, int] = {}
    for date, category, credit, title, summary in SEED_ITEMS:
        rank = ranks[date] = ranks.get(date, -1) + 1
        item_id = make_entry(date, title).item_id
        updated = EDITED.get(item_id, first_seen(date, rank))
        entries.append(make_entry(
            date, title, category=category, credit=credit, summary=summary, updated=updated))
    return tuple(entries)


def make_spec(
    entries: tuple[Entry, ...],
    *,
    key: str = "all",
    title: str = SITE_TITLE,
    subtitle: str = SITE_DESCRIPTION,
    updated: dt.datetime | None = None,
) -> FeedSpec:
    """A feed of ``entries`` as collating would make it; ``updated`` defaults to the newest."""
    newest = max((entry.updated for entry in entries), default=None)
    when = updated or newest or dt.datetime(2021, 1, 1, tzinfo=ZONE)
    return FeedSpec(
        key=key,
        feed_id=f"tag:127.0.0.1,2021:feeds/{key}",
        title=title,
        subtitle=subtitle,
        home_url=BASE_URL,
        self_urls={fmt: f"{BASE_URL}feeds/{key}.{fmt}" for fmt in ("atom", "rss", "json")},
        language="en",
        author=SITE_TITLE,
        updated=when,
        entries=entries,
    )


def seed_spec() -> FeedSpec:
    """The all-items feed of the twenty seed items: what the golden files show."""
    return make_spec(seed_entries())


def category_spec(label: str = "Social protection") -> FeedSpec:
    """The feed of one seed category."""
    entries = tuple(entry for entry in seed_entries() if entry.category == label)
    return make_spec(entries, key=f"category/{slugify(label)}", title=f"{SITE_TITLE}: {label}")


def empty_spec() -> FeedSpec:
    """A feed with no entries yet."""
    return make_spec((), updated=dt.datetime(2021, 1, 1, tzinfo=ZONE))


HOSTILE_TITLE = "Bell\x07 <script>alert(1)</script> ]]> &amp; \ufffe\uffff end"
HOSTILE_SUMMARY = (
    "Null\x00 vertical\x0b form\x0c escape\x1b lone\ud800surrogate; tab\tkept; "
    "<b>bold</b> & ]]> &amp; 🎉 عربي עברית"
)
HOSTILE_CATEGORY = "Tags <i>&</i>\x01"
HOSTILE_CREDIT = "© <img src=x onerror=alert(1)>\x02"


def hostile_spec() -> FeedSpec:
    """One entry whose every text field holds what a listing page should never hold."""
    entry = make_entry(
        "2021-11-20",
        HOSTILE_TITLE,
        category=HOSTILE_CATEGORY,
        credit=HOSTILE_CREDIT,
        summary=HOSTILE_SUMMARY,
    )
    return make_spec(
        (entry,), title="Site\x1f <b>& co</b>", subtitle="Sub\x00title ]]>",
    )


# Text a listing page may hold that readers and validators take for markup,
# and links a page may hold that are no URIs. (title, category, link, image)
MARKUP_ITEMS: tuple[tuple[str, str | None, str, str | None], ...] = (
    ("<Region X> ministers meet", "<Region X>",
     "http://127.0.0.1:8000/news/region x\\ministers", None),
    ("<b>Bold</b> & <i>italic</i> claims", "R&D </b>",
     "https://bücher.example/nouvelles/é?q=a b&x=<1>#top#again", "http://img.example/a b.png"),
    ("AT&T buys &amp; sells &#38; &lt;stuff&gt; &eacute;", None,
     "http://127.0.0.1:8000/a|b{c}^`d\"e%zz%41", "https://img.example/ümlaut.jpg"),
    ("a < b > c </p> <!-- note --> <![CDATA[x]]>", "Tags <i>&</i>",
     "http://127.0.0.1:8000/path with space/?a[]=1", None),
    ("Smart\x85quotes\x93 and a lost character \ufffd here", "C1\x9d",
     "http://127.0.0.1:8000/items/plain", None),
)


def markup_spec() -> FeedSpec:
    """Entries whose titles, categories and links are what a hostile page holds;
    the feed's own title looks like markup and it has no author of its own."""
    entries = []
    for rank, (title, category, link, image) in enumerate(MARKUP_ITEMS):
        entry = make_entry(
            "2021-11-20", title, category=category, credit="© <Agency> & co",
            summary=f"Summary of </p>{rank} with <tags> & &amp; entities",
            updated=first_seen("2021-11-20", rank), image=image,
        )
        entries.append(dataclasses.replace(entry, link=link))
    spec = make_spec(tuple(entries), title="<News> & </b> views",
                     subtitle="<i>All</i> the news & more")
    return dataclasses.replace(spec, author="")


AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def historic_spec() -> FeedSpec:
    """Items of 1930 in Europe/Amsterdam, whose offset then was +00:19:32."""
    entries = tuple(
        dataclasses.replace(
            make_entry(date, title),
            published=dt.datetime.combine(dt.date.fromisoformat(date), dt.time(),
                                          tzinfo=AMSTERDAM),
            updated=dt.datetime.combine(dt.date.fromisoformat(date), dt.time(18 - rank),
                                        tzinfo=AMSTERDAM),
        )
        for rank, (date, title) in enumerate(
            (("1930-05-12", "Dam square reopens"), ("1930-05-11", "New bridge planned")))
    )
    return make_spec(entries)


def archive_urls(key: str) -> dict[str, str]:
    return {fmt: f"{BASE_URL}feeds/{key}.{fmt}" for fmt in ("atom", "rss", "json")}


def extras_spec() -> FeedSpec:
    """An archive page (RFC 5005) of a French feed whose entries carry images, credits
    and no summaries, one in Spanish: what a listing gives besides text."""
    entries = (
        make_entry("2021-11-15", "Image, crédit et résumé", credit="© OIT 2021",
                   summary="Un résumé.", image="https://img.example/photos/a.jpg",
                   language="fr", updated=first_seen("2021-11-15", 0)),
        make_entry("2021-11-15", "Image sans résumé", image="https://img.example/b.png?s=1&t=2",
                   credit="OIT", language="fr", updated=first_seen("2021-11-15", 1)),
        make_entry("2021-11-14", "Crédit seul", credit="© OIT", language="fr",
                   updated=first_seen("2021-11-14", 0)),
        make_entry("2021-11-13", "Título sin nada", language="es",
                   updated=first_seen("2021-11-13", 0)),
        make_entry("2021-11-12", "Image d'un type inconnu", image="https://img.example/c",
                   summary="Résumé.", language="fr", updated=first_seen("2021-11-12", 0)),
    )
    spec = make_spec(entries, key="all/archive/2")
    return dataclasses.replace(
        spec, feed_id="tag:127.0.0.1,2021:feeds/all", language="fr",
        current_urls=archive_urls("all"), next_archive_urls=archive_urls("all/archive/3"),
        prev_archive_urls=archive_urls("all/archive/1"))
