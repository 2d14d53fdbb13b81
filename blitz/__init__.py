"""Blitz: a client/server data logger for Arduino-class expansion boards.

Boards -> serial -> logging server -> Redis (per session) -> TCP -> client ->
SQLite/PostgreSQL -> browse, plot, export.  See docs/architecture.md.
"""

__version__ = "0.1.0"
