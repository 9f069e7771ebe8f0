"""The characters XML 1.0 cannot carry, in one place for every stage that meets them.

C0 control characters other than tab, line feed and carriage return, lone
surrogates, U+FFFE and U+FFFF: lxml refuses them, and a feed reader that met
one would reject the whole feed. Listings drop them as they are read (with a
warning where the parser can name the line); rendering drops them again at
the boundary, whatever reached it.
"""

from __future__ import annotations

import re

XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def strip_xml_forbidden(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids; nothing else changes, nothing is escaped."""
    return XML_FORBIDDEN.sub("", text)
