"""The ``feedsvc`` command: parse | refresh | serve | scheduler | check-config | items |
categories | copy-store.

Each subcommand is a thin shell around one library call; errors that feedsvc
raises on purpose are printed as one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from types import FrameType
from typing import TYPE_CHECKING

from feedsvc import __version__
from feedsvc.errors import ConfigError, FeedsvcError
from feedsvc.formats import (
    DATE_ORDERS,
    HTML_SELECTOR_DEFAULTS,
    JSON_PATH_KEYS,
    SOURCE_FORMAT_NAMES,
    SOURCE_FORMATS,
    Format,
)
from feedsvc.logevents import Event, EventFormatter, log_event
from feedsvc.settings import LANGUAGES, RENDERS, Settings, SourceSettings, load_settings

if TYPE_CHECKING:
    from feedsvc.web.server import Scheduler

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_SOURCE_FAILED = 2
# What a shell reports for a process ended by SIGTERM (128 + 15).
EXIT_TERMINATED = 128 + signal.SIGTERM

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
"""One line per record, naming the logger: shared by the CLI and the WSGI entry point."""

MAX_PORT = 65535


def port_number(text: str) -> int:
    """An argparse type: a TCP port from 0 to 65535 (0: the system picks a free one)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_PORT}, not {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedsvc", description="Feeds for news sites that publish only listing pages."
    )
    parser.add_argument("--version", action="version", version=f"feedsvc {__version__}")
    parser.add_argument(
        "--config", metavar="FILE",
        help="settings file (default: $FEEDSVC_CONFIG, else the bundled config/feedsvc.toml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    parse = commands.add_parser(
        "parse", help="read one listing (a file, a URL or a configured source) as a refresh "
                      "would, and print its items as JSON")
    parse.add_argument("location", metavar="LOCATION", nargs="?",
                       help="a listing file or an http(s) URL")
    parse.add_argument("--source", metavar="NAME",
                       help="read this configured source instead, exactly as a refresh does")
    parse.add_argument("--format", choices=SOURCE_FORMAT_NAMES, default="auto",
                       help="listing format (default: auto, by content type and content)")
    parse.add_argument("--language", choices=LANGUAGES, help="language of dates (default: detect)")
    parse.add_argument("--date-order", choices=DATE_ORDERS, default="dmy",
                       help="how numeric dates such as 03/04/2021 read (default: dmy)")
    parse.add_argument("--selector", action="append", metavar="FIELD=CSS", default=[],
                       help="an HTML selector to use for one field (again for more): "
                            + ", ".join(HTML_SELECTOR_DEFAULTS))
    parse.add_argument("--path", action="append", metavar="FIELD=DOTTED.PATH", default=[],
                       help="a JSON path for the item list or one field (again for more): "
                            + ", ".join(JSON_PATH_KEYS))
    parse.add_argument("--render", choices=RENDERS, default="fetch",
                       help="browser: load the page in headless Chromium first")
    parse.add_argument("--explain", action="store_true",
                       help="print a [[sources]] entry with the selectors used, ready to paste, "
                            "instead of the items")

    refresh = commands.add_parser("refresh", help="read every source once and publish the feeds")
    refresh.add_argument("--source", action="append", metavar="NAME", dest="sources",
                         help="read only this source (again for more); the others stay as they are")
    refresh.add_argument("--force", action="store_true",
                         help="read in full now: no back-off, no validators, nothing reused")

    serve = commands.add_parser(
        "serve", help="serve the feeds, refreshing them on schedule in the same process"
    )
    serve.add_argument("--host", help="address to listen on (default: server.host)")
    serve.add_argument("--port", type=port_number,
                       help="port to listen on, 0 for any free one (default: server.port)")
    serve.add_argument(
        "--no-scheduler", action="store_true",
        help="only serve; leave refreshing to `feedsvc scheduler` or `feedsvc refresh`",
    )

    commands.add_parser("scheduler", help="run scheduled refreshes and admin requests (the "
                                          "production scheduler; one active among any number)")
    commands.add_parser("check-config", help="validate the settings file and exit")

    copy = commands.add_parser("copy-store",
                               help="copy the whole store to another database (SQLite, PostgreSQL)")
    copy.add_argument("--to", required=True, metavar="URL", dest="target",
                      help="SQLAlchemy URL of the target database, e.g. "
                           "postgresql+psycopg://feedsvc@db.example/feedsvc")
    copy.add_argument("--replace", action="store_true",
                      help="overwrite a target that already holds a store's data")

    for noun, what, name in (("items", "items", "ID"), ("categories", "categories", "SLUG")):
        group = commands.add_parser(noun, help=f"remove {what} that should never have been "
                                               "published")
        actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
        remove = actions.add_parser("remove", help=f"remove {what} from the store and the feeds")
        remove.add_argument("targets", nargs="+", metavar=name,
                            help="an item id (as in /items/<id>) or guid" if noun == "items"
                            else "a category slug (as in /feeds/category/<slug>.atom)")
        remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return parser


QUIET_LOGGERS = ("httpx", "httpcore")
"""The HTTP client's loggers: they log every request with its whole URL, credentials
included; feedsvc logs what it fetched itself, redacted."""


def configure_logging(*, verbose: bool = False) -> None:
    """One line per record on stderr (see LOG_FORMAT; a record with a log event ends in
    ``[event=<name>]``), the HTTP client's own records left out but for warnings. A
    process that configured logging already keeps it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EventFormatter(LOG_FORMAT))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None, *, serve: Callable[..., None] | None = None) -> int:
    """Run the command ``argv`` (default: the process's arguments); returns the exit status.

    ``serve`` is what ``feedsvc serve`` calls to serve, with the settings and the
    keywords ``host``, ``port`` and ``start_scheduler`` (default
    ``feedsvc.web.serve``; a test passes one that records the call)."""
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose)
    try:
        settings = load_settings(args.config)
        if args.command == "parse":
            return _parse(args, settings)
        if args.command == "check-config":
            return _check_config(settings)
        if args.command == "refresh":
            with _exit_on_sigterm():
                return _refresh(settings, args.sources, force=args.force, verbose=args.verbose)
        if args.command == "serve":
            return _serve(settings, args.host, args.port, scheduler=not args.no_scheduler,
                          serve=serve)
        if args.command == "scheduler":
            from feedsvc.scheduler import run_scheduler

            run_scheduler(settings)
            return EXIT_OK
        if args.command in ("items", "categories"):
            return _remove(settings, args.command, args.targets, assume_yes=args.yes)
        if args.command == "copy-store":
            from feedsvc.store.copy import copy_store

            print(copy_store(settings.storage.database, args.target,
                             replace=args.replace).summary())
            return EXIT_OK
    except FeedsvcError as exc:
        print(f"feedsvc: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")


def _parse(args: argparse.Namespace, settings: Settings) -> int:
    """Read one listing as the refresh reads it (see ``feedsvc.preview``) and print its
    items as JSON, or with ``--explain`` a settings entry; warnings on stderr."""
    from feedsvc.errors import SourceError
    from feedsvc.preview import explain_toml, items_json, preview

    source = _parse_source(args, settings)
    try:
        result = preview(settings, source)
    except SourceError as exc:
        # Named once: by the location when the message does not quote it already.
        if source.location in exc.detail or source.name in exc.detail:
            raise FeedsvcError(exc.detail) from None
        raise
    for warning in result.warnings:
        print(f"feedsvc: warning: {warning}", file=sys.stderr)
    text = explain_toml(result) if args.explain else items_json(result.items)
    return _write_stdout(text.encode("utf-8"))


def _parse_source(args: argparse.Namespace, settings: Settings) -> SourceSettings:
    """The source ``feedsvc parse`` reads: the configured one ``--source`` names, else
    one made of LOCATION and the options."""
    from feedsvc.preview import adhoc_source

    if args.source is not None:
        if args.location is not None:
            raise ConfigError("give either LOCATION or --source NAME, not both")
        described = [option for option, given in (
            ("--format", args.format != "auto"), ("--language", args.language is not None),
            ("--date-order", args.date_order != "dmy"), ("--selector", bool(args.selector)),
            ("--path", bool(args.path)), ("--render", args.render != "fetch")) if given]
        if described:
            raise ConfigError(f"{described[0]} describes a LOCATION; --source NAME reads the "
                              "source as the settings file describes it")
        for source in settings.sources:
            if source.name == args.source:
                return source
        known = ", ".join(source.name for source in settings.sources)
        raise ConfigError(f"no source named {args.source!r} (the sources are: {known})")
    if args.location is None:
        raise ConfigError("feedsvc parse needs a LOCATION (a file or an http(s) URL) or "
                          "--source NAME")
    selectors = _pairs(args.selector, "--selector", "FIELD=CSS, e.g. item=div.news",
                       SOURCE_FORMATS["html"], "selectors")
    paths = _pairs(args.path, "--path", "FIELD=DOTTED.PATH, e.g. items=data.news",
                   SOURCE_FORMATS["json"], "paths")
    return adhoc_source(args.location, fmt=args.format, language=args.language,
                        selectors=selectors, paths=paths, render=args.render,
                        date_order=args.date_order)


def _pairs(given: Sequence[str], option: str, shape: str, fmt: Format,
           key: str) -> Mapping[str, str] | None:
    """``FIELD=VALUE`` arguments as a table, checked as the format checks its setting
    ``key`` in the settings file (None when none were given)."""
    table: dict[str, str] = {}
    for pair in given:
        field, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"{option} {pair!r}: write it as {shape}")
        table[field.strip()] = value
    if not table:
        return None
    check = next(setting.check for setting in fmt.settings if setting.key == key)
    checked: Mapping[str, str] = check(table, option)
    return checked


def _write_stdout(data: bytes) -> int:
    """Write ``data`` to stdout as they are: UTF-8 whatever the locale says.

    A reader that stopped reading (``| head``) ends the command quietly with
    exit 0; any other write error (a full disk) is one ``feedsvc: error:``
    line and exit 1. Either way stdout is then pointed at /dev/null, so that
    the interpreter's own flush at exit does not fail again with a traceback.
    """
    stream = sys.stdout
    try:
        stream.flush()
        binary = getattr(stream, "buffer", None)
        if binary is None:  # a text-only replacement stream (an embedding program's)
            stream.write(data.decode("utf-8"))
            stream.flush()
        else:
            binary.write(data)
            binary.flush()
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_OK
    except OSError as exc:
        _discard_stdout()
        print(f"feedsvc: error: cannot write the output: {exc.strerror or exc}",
              file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _discard_stdout() -> None:
    try:
        descriptor = sys.stdout.fileno()
    except (OSError, ValueError):  # not backed by a file descriptor: nothing to redirect
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)


class _Terminated(SystemExit):
    """SIGTERM, raised in the main thread by ``_exit_on_sigterm``."""


@contextmanager
def _exit_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM unwinds the block, then ends the process with status 143.

    Python's default for SIGTERM kills the process on the spot. Raised as an
    exception instead (a SystemExit), it unwinds the refresh: the pipeline
    records the run as abandoned and the store's refresh lock is released, so
    the next refresh need not wait for the lock to expire. A read already in
    progress on a fetch thread is waited for (bounded by the fetch timeouts).
    The process then ends at once: a fetch thread still blocked in a read
    must not keep it alive. Only the main thread can install a handler;
    elsewhere (an embedding program) the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        log_event(logging.getLogger("feedsvc.cli"), Event.REFRESH_TERMINATED,
                  "%s received: abandoning the refresh; the last publication stays live",
                  name, signal=name)
        raise _Terminated(EXIT_TERMINATED)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except _Terminated:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with suppress(OSError, ValueError):
                stream.flush()
        os._exit(EXIT_TERMINATED)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_config(settings: Settings) -> int:
    """Validate what start-up would: the settings, and the schedule as the scheduler reads it."""
    from feedsvc.scheduler import check_trigger, describe_schedule

    check_trigger(settings)
    _check_database_url(settings)
    print(f"{settings.config_path}: ok, {len(settings.sources)} source(s), "
          f"{describe_schedule(settings.schedule)}")
    return EXIT_OK


def _check_database_url(settings: Settings) -> None:
    """Refuse a database URL SQLAlchemy cannot read, or whose driver is not installed."""
    from sqlalchemy.engine import make_url

    try:
        make_url(settings.storage.database).get_dialect().import_dbapi()
    except Exception as exc:  # ArgumentError, NoSuchModuleError, ImportError: one answer
        raise ConfigError(f"cannot be used: {exc}", key="storage.database",
                          path=str(settings.config_path)) from None


SHOWN_WARNINGS = 5
"""Warnings ``feedsvc refresh`` prints under each source, without ``--verbose``."""


def _refresh(
    settings: Settings, sources: Sequence[str] | None = None, *, force: bool = False,
    verbose: bool = False,
) -> int:
    from feedsvc.pipeline import refresh

    known = [source.name for source in settings.sources]
    unknown = [name for name in sources or () if name not in known]
    if unknown:
        raise ConfigError(f"no source named {unknown[0]!r} (the sources are: {', '.join(known)})")
    report = refresh(settings, only=sources, force=force)
    for source in report.sources:
        print(source.summary_line())
        # Verbose: every warning the parsers kept; else the first few of the bounded list.
        shown = (source.all_warning_messages or source.warning_messages) if verbose \
            else source.warning_messages[:SHOWN_WARNINGS]
        for message in shown:
            print(f"  warning: {message.removeprefix(source.name + ': ')}")
        if not verbose and len(source.warning_messages) > len(shown):
            print(f"  ... {source.warnings - len(shown)} more warning(s): feedsvc -v refresh")
    print(report.summary_lines()[-1])
    if settings.websub.hubs:
        # The hubs are told in the background; a one-shot command gives them a while.
        # What is not sent by then stays in the outbox for the next refresh.
        from feedsvc.websub import drain_all

        drain_all(timeout=HUB_WAIT_SECONDS)
    return EXIT_OK if report.ok else EXIT_SOURCE_FAILED


HUB_WAIT_SECONDS = 60
"""Longest ``feedsvc refresh`` waits, after publishing, for the WebSub hubs to be told."""

REMOVE_LOCK_WAIT = 120
"""Seconds a removal waits for a running refresh to end."""


def _remove(settings: Settings, noun: str, targets: Sequence[str], *, assume_yes: bool) -> int:
    """Remove items or categories after saying what goes and asking to confirm.

    Without a terminal to ask on, ``--yes`` is required. What is removed is
    recorded in the store and leaves the feeds at the next publication.
    """
    import datetime as dt

    from feedsvc.store import Store

    with Store.open(settings.storage.database) as store, \
            store.refresh_lock(f"feedsvc {noun} remove", wait=REMOVE_LOCK_WAIT):
        # Under the refresh lock: a refresh running meanwhile would publish
        # without the removal and then forget that it was due.
        if noun == "items":
            found = [f"{item_id}  {title}" for _, item_id, title in store.find_items(targets)]
        else:
            known = {c.slug: c.label for c in store.known_categories()}
            found = [f"{slug}  {known[slug]}" for slug in dict.fromkeys(targets) if slug in known]
        if not found:
            raise FeedsvcError(f"no such {noun} in the store: {', '.join(targets)}")
        print(f"To remove ({len(found)} of {len(targets)} named):", *found, sep="\n  ")
        if not assume_yes and not _confirmed(f"Remove these {noun}? [y/N] "):
            print("nothing removed")
            return EXIT_ERROR
        now = dt.datetime.now(dt.UTC)
        removed = (store.remove_items(targets, now) if noun == "items"
                   else store.remove_categories(targets, now))
    taken = sum(r.items for r in removed)
    print(f"removed {len(removed)} {noun}" + (f" ({taken} items lose their category)"
                                               if noun == "categories" else "")
          + "; the feeds change at the next refresh (feedsvc refresh)")
    return EXIT_OK


def _confirmed(question: str) -> bool:
    if not sys.stdin.isatty():
        raise FeedsvcError("not a terminal: add --yes to remove without being asked")
    return input(question).strip().lower() in ("y", "yes")


def _serve(settings: Settings, host: str | None, port: int | None, *, scheduler: bool,
           serve: Callable[..., None] | None) -> int:
    if serve is None:
        from feedsvc.web import serve as web_serve

        serve = web_serve
    start_scheduler: Callable[[Settings], Scheduler] | None = None
    if scheduler:
        # Imported here: only `serve` with a scheduler needs APScheduler and the pipeline.
        from feedsvc.scheduler import start_background_scheduler

        start_scheduler = start_background_scheduler
    # `is not None`: port 0 (any free port) and host "" (every interface) are choices too.
    serve(settings, host=host if host is not None else settings.server.host,
          port=port if port is not None else settings.server.port,
          start_scheduler=start_scheduler)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
