"""The server's configuration: one dataclass from flags, environment and a TOML file.

Precedence, highest first: command-line flags, `BLITZ_<NAME>` environment
variables, the config file (`--config` / `BLITZ_CONFIG`), then defaults.  Every
value is converted and checked here, so the rest of the server can trust it;
a bad value raises `ConfigError` naming where it came from.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from blitz.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ENV_PREFIX = "BLITZ_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class ServerConfig:
    """Everything `blitz server` can be told; see docs/server.md."""

    host: str = "127.0.0.1"
    port: int = 8999
    serial: tuple[str, ...] = ()  # ports or pyserial URLs always used
    scan: bool = True  # also use USB serial ports found by scanning
    scan_interval_s: float = 5.0
    poll_interval_s: float = 0.1  # TRANSMIT period: 180 messages / 670 per s = 0.27 s to wrap
    baudrate: int = 57600
    reset_wait_s: float = 2.0  # the Arduino reboots when its port opens
    reply_timeout_s: float = 1.0
    command_timeout_s: float = 0.3  # BOARD: silence after this long means "no reply"
    missed_polls_lost: int = 3
    retry_max_s: float = 5.0
    redis_url: str | None = None  # None: start an embedded redis-server in data_dir
    redis_prefix: str = "blitz:"
    data_dir: str = "blitz-data"
    appendfsync: str = "everysec"
    max_buffered_lines: int = 1_000_000
    token: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    allow_delete: bool = True
    allow_reset: bool = True
    max_line_bytes: int = 4096  # longest control-protocol line accepted
    netscanner_host: str | None = None  # a NetScanner 9116 to bridge as boards 0x0A/0x0B
    log_level: str = "info"
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Checked here, not only in validate(): a ServerConfig built in code must not
        # carry a token that no AUTH line can match.
        if self.token is not None and not self.token.strip():
            raise ConfigError("token must not be empty")

    @property
    def listen(self) -> str:
        """The endpoint description of the control listener (tcp: or ssl:)."""
        from blitz.server.tls import listen_endpoint_description

        return listen_endpoint_description(self)

    @property
    def is_loopback(self) -> bool:
        """True when the listener is reachable from this machine only."""
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_FIELDS = {f.name: f for f in fields(ServerConfig) if f.name != "sources"}


def _convert(name: str, value: Any, where: str) -> Any:
    """Convert one raw value (str from env, TOML value, flag value) to the field's type."""
    kind = str(_FIELDS[name].type)
    try:
        if value is None:
            if "None" in kind:
                return None
            raise ValueError("a value is required")
        if kind.startswith("tuple"):
            if isinstance(value, str):
                return tuple(part for part in value.replace(",", " ").split() if part)
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError("expected a list of strings")
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError("expected true/false, yes/no, on/off or 1/0")
        if kind == "int":
            if isinstance(value, bool) or isinstance(value, float):
                raise ValueError("expected an integer")
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError("expected a number")
            return float(value)
        if isinstance(value, (dict, list, bool)):
            raise ValueError("expected a string")
        return str(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: bad value {value!r} for {name}: {exc}") from None


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML config file: keys at the top level or under `[server]`."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {str(file)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(file)!r} is not valid TOML: {exc}") from None
    table = data.get("server", data)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {str(file)!r}: [server] must be a table")
    unknown = sorted(set(table) - set(_FIELDS) - {"server"})
    if unknown:
        raise ConfigError(f"config file {str(file)!r}: unknown keys {', '.join(unknown)}; "
                          f"expected some of {', '.join(sorted(_FIELDS))}")
    return {key: value for key, value in table.items() if key in _FIELDS}


def load_config(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> ServerConfig:
    """Merge flags (None = not given), BLITZ_* variables and the file; validate."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None and v != ()}
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path:
        for name, value in read_config_file(path).items():
            values[name] = _convert(name, value, f"config file {str(path)!r}")
            sources[name] = "file"
    for name in _FIELDS:
        variable = ENV_PREFIX + name.upper()
        if variable in env:
            values[name] = _convert(name, env[variable], f"environment {variable}")
            sources[name] = "env"
    for name, value in flags.items():
        if name not in _FIELDS:
            raise ConfigError(f"unknown option {name!r}")
        values[name] = _convert(name, value, f"option --{name.replace('_', '-')}")
        sources[name] = "flag"
    config = ServerConfig(**values, sources=sources)
    validate(config)
    return config


def validate(config: ServerConfig) -> None:
    """Check ranges and combinations; raise ConfigError saying what to change."""
    if not 0 <= config.port <= 65535:
        raise ConfigError(f"port must be 0-65535, got {config.port}")
    for name in ("poll_interval_s", "reply_timeout_s", "command_timeout_s", "scan_interval_s", "retry_max_s"):
        if not getattr(config, name) > 0:
            raise ConfigError(f"{name} must be above 0, got {getattr(config, name)}")
    if config.poll_interval_s > 10:
        raise ConfigError(f"poll_interval_s must be at most 10 s (board buffers wrap), got {config.poll_interval_s}")
    for name in ("reset_wait_s",):
        if getattr(config, name) < 0:
            raise ConfigError(f"{name} must be 0 or more, got {getattr(config, name)}")
    if config.baudrate <= 0:
        raise ConfigError(f"baudrate must be positive, got {config.baudrate}")
    if config.missed_polls_lost < 1:
        raise ConfigError(f"missed_polls_lost must be at least 1, got {config.missed_polls_lost}")
    if config.max_line_bytes < 64:
        raise ConfigError(f"max_line_bytes must be at least 64, got {config.max_line_bytes}")
    if config.max_buffered_lines < 0:
        raise ConfigError(f"max_buffered_lines must be 0 or more, got {config.max_buffered_lines}")
    if config.appendfsync not in ("always", "everysec", "no"):
        raise ConfigError(f"appendfsync must be always, everysec or no, got {config.appendfsync!r}")
    if config.redis_url is not None and not config.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"redis_url must start with redis://, rediss:// or unix://, got {config.redis_url!r}")
    if config.tls_key and not config.tls_cert:
        raise ConfigError("tls_key is set but tls_cert is not: give both, or only tls_cert "
                          "for a PEM file holding certificate and key")
    for name in ("tls_cert", "tls_key"):
        value = getattr(config, name)
        if value and not Path(value).is_file():
            raise ConfigError(f"{name} file {value!r} does not exist")
    if config.token is not None and not config.token.strip():
        raise ConfigError("token must not be empty")
    if not config.is_loopback and not config.token:
        raise ConfigError(
            f"refusing to listen on {config.host!r} without a token: anyone on the network could "
            "start, stop and delete sessions; set --token (or BLITZ_TOKEN), or use --host 127.0.0.1"
        )
    if config.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"log_level must be debug, info, warning or error, got {config.log_level!r}")


def replace(config: ServerConfig, **changes: Any) -> ServerConfig:
    """A validated copy of `config` with some fields changed (tests, CLI)."""
    updated = dataclasses.replace(config, **changes)
    validate(updated)
    return updated
