"""feedsvc: Atom, RSS and JSON feeds for news sites that publish only listing pages."""

__version__ = "0.1.0"
