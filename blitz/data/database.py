"""The two database classes under the names users' scripts import (api.md).

`DatabaseClient` is the laptop's SQL store; `DatabaseServer` the logger's Redis
buffer.  Each lives in its own module; this one only gathers them.
"""

from blitz.data.client_database import DatabaseClient
from blitz.data.redis_buffer import DatabaseServer

__all__ = ["DatabaseClient", "DatabaseServer"]
