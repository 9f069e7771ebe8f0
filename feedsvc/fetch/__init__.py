"""Getting a source's bytes: every read of a listing, local or remote.

- ``base``: the ``Fetcher`` contract and ``read_within``, which runs the
  sources' reads side by side with a time bound;
- ``file``: local files (``FileFetcher`` and the bounded ``read_at_most``);
- ``http``: ``HttpFetcher``, all of feedsvc's outbound HTTP;
- ``browser`` and ``guard_proxy``: pages that scripts build, read in headless
  Chromium held to the same address rules;
- ``routing``: ``RoutingFetcher``, which sends each location to the right one.

The fetched data (``Fetched``, ``Validators``) are in ``feedsvc.models``, so the
store and the parsers need nothing from here. This package's ``__init__``
imports nothing, so reading a file never loads the HTTP stack.
"""
