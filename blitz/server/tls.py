"""Build the control port's listening endpoint: TLS with a certificate, plain TCP without.

`listen_endpoint_description(config)` gives a Twisted endpoint string
(`tcp:port=8999:interface=127.0.0.1` or
`ssl:port=8999:interface=...:privateKey=...:certKey=...`) for
`strports.service(description, factory)`; `server_endpoint(reactor, config)`
parses it and turns every failure into a ConfigError.  TLS needs pyOpenSSL
and service_identity (`pip install "Twisted[tls]"`).
"""

from __future__ import annotations

import importlib.util
from typing import Protocol, cast

from twisted.internet import endpoints
from twisted.internet.interfaces import IStreamServerEndpoint

from blitz.errors import ConfigError


class ListenConfig(Protocol):
    """The part of ServerConfig that says where and how to listen."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def tls_cert(self) -> str | None: ...

    @property
    def tls_key(self) -> str | None: ...


def tls_available() -> bool:
    """Whether this Python can serve TLS through Twisted (pyOpenSSL is installed)."""
    return importlib.util.find_spec("OpenSSL") is not None


def uses_tls(config: ListenConfig) -> bool:
    """Whether the config asks for TLS; a key without a certificate is an error."""
    cert, key = _path(config.tls_cert), _path(config.tls_key)
    if key and not cert:
        raise ConfigError(f"tls_key is set ({key!r}) but tls_cert is not: give both, "
                          "or only tls_cert for a PEM file holding certificate and key")
    return bool(cert)


def listen_endpoint_description(config: ListenConfig) -> str:
    """The endpoint string for the control port (`ssl:` when a certificate is set)."""
    port = config.port
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(f"port: expected an integer from 0 to 65535, got {port!r}")
    host = config.host or ""
    parts = [f"port={port}", f"interface={_quote(host)}"]
    if not uses_tls(config):
        return "tcp:" + ":".join(parts)
    cert = _path(config.tls_cert)
    key = _path(config.tls_key) or cert
    parts += [f"privateKey={_quote(key)}", f"certKey={_quote(cert)}"]
    return "ssl:" + ":".join(parts)


def server_endpoint(reactor: object, config: ListenConfig) -> IStreamServerEndpoint:
    """The listening endpoint for the control port; ConfigError with the cause if impossible."""
    description = listen_endpoint_description(config)
    if description.startswith("ssl:") and not tls_available():
        raise ConfigError(
            "TLS is configured (tls_cert) but pyOpenSSL is not installed: "
            'install "Twisted[tls]" or remove tls_cert/tls_key')
    try:
        return cast(IStreamServerEndpoint, endpoints.serverFromString(reactor, description))  # type: ignore[no-untyped-call]
    except Exception as error:  # unreadable certificate or key, bad interface, ...
        raise ConfigError(f"cannot listen on {description!r}: {error}") from error


def _path(value: object) -> str:
    return "" if value is None else str(value)


def _quote(value: str) -> str:
    return cast(str, endpoints.quoteStringArgument(value))  # type: ignore[no-untyped-call]
