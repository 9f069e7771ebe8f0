"""Which network addresses a fetch may reach: the rules, without any network I/O.

A listing page, a redirect or a ``<base href>`` chosen by a remote server
must not steer feedsvc into the machine it runs on or the network around
it (server-side request forgery). ``refusal`` names the rule that refuses
an address; ``literal_address`` reads the many ways a URL's host may spell
an IP address, so that ``http://2130706433/`` is known to be 127.0.0.1
before anything is resolved. ``feedsvc.fetch.http`` applies the rules to the
address it actually connects to.
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_SETTING = "fetch.allow_private_addresses"

_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
"""The well-known NAT64 prefix: a gateway turns these into the IPv4 address they end with."""
_HEX = re.compile(r"0x[0-9a-f]*")
_OCTAL = re.compile(r"0[0-7]+")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def refusal(address: IPAddress) -> str | None:
    """The kind of address ``address`` is when fetches may not reach it, else None.

    Refused: unspecified, loopback, link-local, unique-local, multicast,
    private, and any other address that is not globally routable. An IPv6
    address that carries an IPv4 one (mapped, NAT64, 6to4) is judged by the
    IPv4 address it carries.
    """
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return refusal(embedded)
    if address.is_unspecified:
        return "an unspecified"
    if address.is_loopback:
        return "a loopback"
    if address.is_link_local:
        return "a link-local"
    if isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL:
        return "a unique-local"
    if address.is_multicast:
        return "a multicast"
    if address.is_private:
        return "a private"
    if not address.is_global:
        return "a reserved (not publicly routable)"
    return None


def refusal_message(address: IPAddress, kind: str, *, host: str | None = None) -> str:
    """``127.0.0.1 is a loopback address (set ... to allow)``, naming ``host`` too
    when it is not the address itself (a name, or another spelling)."""
    bare = None if host is None else host.strip("[]")
    subject = str(address) if bare is None or bare == str(address) else (
        f"{bare} ({address})" if literal_address(bare) is not None
        else f"{bare} resolves to {address}, which")
    return f"{subject} is {kind} address (set {ALLOW_SETTING} to allow)"


def literal_address(host: str) -> IPAddress | None:
    """The IP address ``host`` spells, else None (a name to be resolved).

    Besides the usual forms, this reads what C's ``inet_aton`` accepts and
    resolvers pass through: one to four dot-separated parts, each decimal,
    octal (leading 0) or hexadecimal (0x), the last filling the remaining
    bytes (``2130706433``, ``0x7f.1``, ``127.1``, ``0177.0.0.01``).
    """
    text = host.strip().strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if ":" in text:
        try:
            # A zone (fe80::1%eth0) is no part of the address.
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    return _loose_ipv4(text)


def _loose_ipv4(text: str) -> ipaddress.IPv4Address | None:
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        number = _inet_aton_number(part)
        if number is None:
            return None
        numbers.append(number)
    *leading, last = numbers
    if any(number > 0xFF for number in leading):
        return None
    if last >= 1 << (8 * (4 - len(leading))):
        return None
    value = last
    for index, number in enumerate(leading):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _inet_aton_number(part: str) -> int | None:
    lowered = part.lower()
    if _HEX.fullmatch(lowered):
        return int(lowered[2:] or "0", 16)
    if _OCTAL.fullmatch(lowered):
        return int(lowered, 8)
    if _DECIMAL.fullmatch(lowered):
        return int(lowered, 10)
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour
