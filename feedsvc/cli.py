"""The ``feedsvc`` command: parse | refresh | serve | scheduler | check-config.

Each subcommand is a thin shell around one library call; errors that feedsvc
raises on purpose are printed as one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from feedsvc import __version__
from feedsvc.errors import FeedsvcError
from feedsvc.settings import LANGUAGES, Settings, load_settings

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_SOURCE_FAILED = 2


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

    parse = commands.add_parser("parse", help="print the items of one listing file as JSON")
    parse.add_argument("file", metavar="FILE", help="a text listing file")
    parse.add_argument("--language", choices=LANGUAGES, help="language of dates (default: detect)")

    commands.add_parser("refresh", help="read every source once and publish the feeds")

    serve = commands.add_parser(
        "serve", help="serve the feeds, refreshing them on schedule in the same process"
    )
    serve.add_argument("--host", help="address to listen on (default: server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (default: server.port)")
    serve.add_argument(
        "--no-scheduler", action="store_true",
        help="only serve; leave refreshing to `feedsvc scheduler` or `feedsvc refresh`",
    )

    commands.add_parser("scheduler", help="run scheduled refreshes (the production scheduler)")
    commands.add_parser("check-config", help="validate the settings file and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "parse":
            return _parse(Path(args.file), args.language)
        settings = load_settings(args.config)
        if args.command == "check-config":
            print(f"{settings.config_path}: ok, {len(settings.sources)} source(s)")
            return EXIT_OK
        if args.command == "refresh":
            return _refresh(settings)
        if args.command == "serve":
            return _serve(settings, args.host, args.port, scheduler=not args.no_scheduler)
        if args.command == "scheduler":
            from feedsvc.scheduler import run_scheduler

            run_scheduler(settings)
            return EXIT_OK
    except FeedsvcError as exc:
        print(f"feedsvc: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")


def _parse(path: Path, language: str | None) -> int:
    from feedsvc.listing import item_to_json, read_listing_file

    result = read_listing_file(path, language=language)
    for warning in result.warnings:
        print(f"feedsvc: warning: {warning}", file=sys.stderr)
    json.dump([item_to_json(item) for item in result.items], sys.stdout,
              ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _refresh(settings: Settings) -> int:
    from feedsvc.pipeline import refresh

    report = refresh(settings)
    for line in report.summary_lines():
        print(line)
    return EXIT_OK if report.ok else EXIT_SOURCE_FAILED


def _serve(settings: Settings, host: str | None, port: int | None, *, scheduler: bool) -> int:
    from feedsvc.web import serve

    serve(settings, host=host or settings.server.host, port=port or settings.server.port,
          with_scheduler=scheduler)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
