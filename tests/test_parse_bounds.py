"""Hostile listings: memory in step with the input, bounded reads, bounded warnings.

A listing is read whole, so memory must grow with its size and never faster:
these tests measure the peak (tracemalloc) for the same junk at two sizes.
Files are read with a bounded read whatever ``stat`` says (/dev/zero, FIFOs).
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from listing_files import read_listing_file

from feedsvc.errors import FetchError, ListingError
from feedsvc.fetch.file import read_at_most
from feedsvc.fetch.routing import RoutingFetcher
from feedsvc.listing import decode_document, parse_text_listing
from feedsvc.listing.warnings import MAX_WARNINGS, OmittedWarnings, count_warnings
from feedsvc.models import ParseResult
from feedsvc.pipeline import refresh
from feedsvc.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000
# The sizes compared: small enough for tracemalloc, which slows parsing
# tenfold, large enough that per-line costs dwarf fixed ones.
SMALL, LARGE = MB // 4, MB

# Bytes of parser memory per byte of input allowed. Generous: a file of "-"
# lines took over 100 (one warning per line), and growth is checked apart.
BYTES_PER_INPUT_BYTE = 20
# Fixed memory allowed beside it (one chunk of lines being split, say).
FIXED_BYTES = 2 * MB


def parse_bytes(body: bytes) -> ParseResult:
    """What a refresh and `feedsvc parse` do with a text listing's bytes."""
    text, _ = decode_document(body, source="junk")
    return parse_text_listing(text, source="junk")


def peak_memory(work: Callable[[], object]) -> int:
    """The most memory ``work`` had allocated at once, in bytes."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def repeated(unit: bytes, size: int, head: bytes = b"") -> bytes:
    return head + unit * (size // len(unit))


def assert_memory_in_step_with_input(body_of: Callable[[int], bytes]) -> None:
    """Parsing LARGE bytes peaks at most about LARGE / SMALL times as high as
    parsing SMALL bytes (no faster growth), and under BYTES_PER_INPUT_BYTE per
    input byte."""
    parse_bytes(body_of(1000))  # fill the caches that last beyond one parse
    small = peak_memory(lambda: parse_bytes(body_of(SMALL)))
    large = peak_memory(lambda: parse_bytes(body_of(LARGE)))
    assert large <= 1.2 * (LARGE / SMALL) * small + FIXED_BYTES, (small, large)
    assert large <= BYTES_PER_INPUT_BYTE * LARGE + FIXED_BYTES, (small, large)


JUNK = {
    # Every line starts an item that has no date: a warning each.
    "dash lines": lambda size: repeated(b"-\n", size),
    # Misspelt month headings and dates outside items: a warning each.
    "misspelt headings": lambda size: repeated(b"Febuary 2021\n3 May 2021\n", size),
    # One item whose summary runs on for millions of lines.
    "endless summary": lambda size: repeated(b"x\n", size, b"-\nTitle\n3 May 2021\n"),
    # One item whose lines before a date never end.
    "endless fields": lambda size: repeated(b"    x\n", size, b"  1. Title\n"),
    # Characters XML forbids on every line.
    "control characters": lambda size: repeated(b"\x01\n", size),
    # Junk read as windows-1252 after UTF-8 fails.
    "accented junk": lambda size: repeated("é à\n".encode("cp1252"), size),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", JUNK)
def test_parsing_memory_grows_with_the_input_and_no_faster(kind: str) -> None:
    assert_memory_in_step_with_input(JUNK[kind])


junk_line = st.text(
    alphabet=st.sampled_from(list("-. 0123456789abcMayJanuary©\t")), min_size=0, max_size=12
)


@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(lines=st.lists(junk_line, min_size=1, max_size=6))
def test_parsing_memory_of_any_repeated_junk_grows_with_the_input(lines: list[str]) -> None:
    unit = ("\n".join(lines) + "\n").encode("utf-8")
    assert_memory_in_step_with_input(lambda size: repeated(unit, size))


# --- warnings ---


@pytest.mark.slow
def test_junk_keeps_the_first_warnings_and_counts_the_rest() -> None:
    lines = 2_500_000  # 5 MB of "-" lines: one warning each
    result = parse_text_listing("-\n" * lines, source="junk")
    assert len(result.warnings) == MAX_WARNINGS + 1
    assert [w.line for w in result.warnings[:3]] == [1, 2, 3]
    last = result.warnings[-1]
    assert isinstance(last, OmittedWarnings)
    assert (last.line, last.omitted) == (0, lines - MAX_WARNINGS)
    assert str(last) == f"junk: ... and {lines - MAX_WARNINGS} more warning(s), not shown"
    assert count_warnings(result.warnings) == lines


def test_few_warnings_are_all_kept() -> None:
    result = parse_text_listing("-\n" * MAX_WARNINGS, source="junk")
    assert len(result.warnings) == MAX_WARNINGS
    assert not any(isinstance(w, OmittedWarnings) for w in result.warnings)


def test_a_file_without_items_counts_every_warning(tmp_path: Path) -> None:
    path = tmp_path / "dashes.txt"
    path.write_bytes(b"-\n" * 1000)
    with pytest.raises(ListingError, match=r"line 1: .* \(and 999 more warning\(s\)\)$"):
        read_listing_file(path)


# --- bounded reads ---


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "listing.fifo"
    os.mkfifo(path)
    return path


def written_and_closed(fifo: Path, data: bytes) -> int:
    """Write ``data`` into ``fifo`` and close the writer, keeping the data there
    with a reader held open (returned, to close): as a writer that finished
    before the reader came. Nothing waits on anything, so no race."""
    held = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    with fifo.open("wb") as writer:  # a reader is open: opening does not wait
        writer.write(data)
    return held


def test_read_at_most_never_trusts_stat() -> None:
    # /dev/zero says it is empty and never ends.
    assert read_at_most(Path("/dev/zero"), 1000) is None


def test_read_at_most_reads_a_file_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"x" * 1000)
    assert read_at_most(path, 1000) == b"x" * 1000
    assert read_at_most(path, 999) is None


def test_read_at_most_reads_a_fifo_until_its_writer_is_done(fifo: Path) -> None:
    held = written_and_closed(fifo, b"-\nTitle\n3 May 2021\n")
    try:
        assert read_at_most(fifo, 1000) == b"-\nTitle\n3 May 2021\n"
    finally:
        os.close(held)


def test_read_at_most_stops_a_fifo_at_the_limit(fifo: Path) -> None:
    held = written_and_closed(fifo, b"x" * 10_000)
    try:
        assert read_at_most(fifo, 1000) is None
    finally:
        os.close(held)


def test_a_fifo_without_a_writer_reads_as_empty(fifo: Path) -> None:
    assert read_at_most(fifo, 1000) == b""


def test_the_refresh_reads_local_files_up_to_fetch_max_bytes(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    fetcher = RoutingFetcher(make_settings(fetch={"max_bytes": 1000}))
    too_large = r"^zero: /dev/zero is more than fetch\.max_bytes \(1000\) bytes$"
    with pytest.raises(FetchError, match=too_large):
        fetcher.fetch("zero", "/dev/zero", None)
    small = tmp_path / "small.txt"
    small.write_bytes(b"x" * 1000)
    assert fetcher.fetch("small", str(small), None).body == b"x" * 1000


# --- `feedsvc parse` ---

MEMORY_LIMIT = 2_000_000_000
"""Address space for a child `feedsvc parse`: reading /dev/zero without a bound
fails against it rather than taking the machine's memory."""


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_parse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", *args], cwd=ROOT, capture_output=True,
        text=True, timeout=120, check=False, preexec_fn=limit_memory,
    )


@pytest.fixture
def small_limit_config(tmp_path: Path) -> Iterator[Path]:
    config = tmp_path / "feedsvc.toml"
    config.write_text("[fetch]\nmax_bytes = 1000\n", encoding="utf-8")
    yield config


@pytest.mark.slow
def test_parse_dev_zero_fails_with_one_line() -> None:
    done = run_parse("parse", "/dev/zero")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "feedsvc: error: /dev/zero is more than fetch.max_bytes (5000000) bytes\n"
    )


@pytest.mark.slow
def test_parse_of_a_file_larger_than_fetch_max_bytes_fails_with_one_line(
    tmp_path: Path, small_limit_config: Path
) -> None:
    listing = tmp_path / "big.txt"
    listing.write_bytes(b"-\nTitle\n3 May 2021\n" * 100)
    done = run_parse("--config", str(small_limit_config), "parse", str(listing))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"feedsvc: error: {listing} is more than fetch.max_bytes (1000) bytes\n"
    )


@pytest.mark.slow
def test_parse_reads_files_up_to_fetch_max_bytes(
    tmp_path: Path, small_limit_config: Path
) -> None:
    listing = tmp_path / "small.txt"
    listing.write_bytes(b"-\nTitle\n3 May 2021\n" * 52)  # 988 bytes
    done = run_parse("--config", str(small_limit_config), "parse", str(listing))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('"title": "Title"') == 52


def test_read_at_most_gives_up_on_a_silent_writer(fifo: Path) -> None:
    writer_end = os.open(fifo, os.O_RDWR)  # a writer that never writes (Linux)
    try:
        with pytest.raises(TimeoutError, match=r"^no data for 0\.2 s$"):
            read_at_most(fifo, 1000, timeout=0.2)
    finally:
        os.close(writer_end)


@pytest.mark.slow
def test_the_refresh_gives_up_on_a_local_fifo_after_fetch_read_timeout(
    fifo: Path, make_settings: Callable[..., Settings]
) -> None:
    fetcher = RoutingFetcher(make_settings(fetch={"read_timeout": 1}))
    writer_end = os.open(fifo, os.O_RDWR)  # a writer that never writes
    try:
        with pytest.raises(FetchError, match=r"^fifo: cannot read .*: no data for 1 s$"):
            fetcher.fetch("fifo", str(fifo), None)
    finally:
        os.close(writer_end)


@pytest.mark.slow
def test_parse_gives_up_on_a_silent_fifo_with_one_line(fifo: Path, tmp_path: Path) -> None:
    config = tmp_path / "feedsvc.toml"
    config.write_text("[fetch]\nread_timeout = 1\n", encoding="utf-8")
    writer_end = os.open(fifo, os.O_RDWR)  # a writer that never writes
    try:
        done = run_parse("--config", str(config), "parse", str(fifo))
    finally:
        os.close(writer_end)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"feedsvc: error: cannot read {fifo}: no data for 1 s\n"


# --- a refresh with hostile sources ---

PAGE = "https://news.example.org/"


def test_a_refresh_fails_hostile_sources_with_one_line_each(
    tmp_path: Path, make_settings: Callable[..., Settings], make_fetcher: Any
) -> None:
    good = tmp_path / "good.txt"
    good.write_bytes(b"-\nTitle\n3 May 2021\n")
    settings = make_settings([
        {"name": "zero", "location": "/dev/zero"},
        {"name": "deep", "location": PAGE, "format": "html", "language": "en"},
        {"name": "good", "location": "good.txt"},
    ], fetch={"max_bytes": 100_000})
    deep_page = ("<article><h2>T</h2>" + "<div>" * 40_000 + "</article>").encode()
    fetcher = RoutingFetcher(settings, remote=make_fetcher({PAGE: deep_page}))
    report = refresh(settings, now=dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC),
                     fetcher=fetcher)
    errors = {source.name: source.error for source in report.sources}
    assert errors["zero"] == "/dev/zero is more than fetch.max_bytes (100000) bytes"
    assert (errors["deep"] or "").startswith("markup nested too deeply to read (")
    assert "\n" not in (errors["deep"] or "")
    assert errors["good"] is None


# --- lines split a chunk at a time ---


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


def _long_listing() -> tuple[str, list[tuple[str, dt.date, str]]]:
    """A listing several times longer than the 64 KiB (of text) the reader splits into
    lines at a time, written with no blank lines (so a line lost at a cut shows), and
    the (title, date, summary) of its items."""
    newest = dt.date(2026, 11, 20)
    lines, items = [], []
    for index in range(900):
        title, date = f"Item {index} of a long listing", newest - dt.timedelta(days=index // 3)
        summary = " ".join(f"word{n}" for n in range(index % 7, index % 7 + 6 + index % 5))
        month = MONTHS[date.month - 1]
        lines += [f"{index + 1}. {title}", f"   {date.day} {month} {date.year}", f"   {summary}"]
        items.append((title, date, summary))
    return "\n".join(lines) + "\n", items


def test_a_listing_read_a_chunk_at_a_time_loses_and_repeats_no_line() -> None:
    """Whichever line a chunk of text ends on (a marker, date or summary line: the first
    line's length moves every cut), the items read are the items written."""
    text, expected = _long_listing()
    assert len(text) > 65_536
    for shift in range(0, 90, 7):
        result = parse_text_listing(f"Latest news{'.' * shift}\n{text}", source="s",
                                    language="en")
        assert [(item.title, item.date, item.summary) for item in result.items] == expected, shift
