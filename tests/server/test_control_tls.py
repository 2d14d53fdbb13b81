"""tls.py: the endpoint description for the control port, plain or TLS."""

from __future__ import annotations

from dataclasses import replace

import pytest
from twisted.internet import task
from twisted.internet.endpoints import TCP4ServerEndpoint, _parse

from blitz.errors import ConfigError
from blitz.server import tls
from tests.server.test_control_fakes import FakeConfig


def test_plain_tcp_description() -> None:
    config = FakeConfig(host="127.0.0.1", port=8999)
    assert tls.listen_endpoint_description(config) == "tcp:port=8999:interface=127.0.0.1"


def test_ipv6_and_any_interface_are_quoted() -> None:
    assert tls.listen_endpoint_description(FakeConfig(host="::1", port=1)) == (
        "tcp:port=1:interface=\\:\\:1")
    assert tls.listen_endpoint_description(FakeConfig(host="", port=2)) == "tcp:port=2:interface="


def test_tls_description_quotes_paths() -> None:
    config = FakeConfig(port=8999, tls_cert="C:/certs/a:b.pem", tls_key="/keys/k.pem")
    description = tls.listen_endpoint_description(config)
    assert description == ("ssl:port=8999:interface=127.0.0.1:privateKey=/keys/k.pem:"
                           "certKey=C\\:/certs/a\\:b.pem")
    # Twisted's own tokenizer reads the quoted values back unchanged
    args, kwargs = _parse(description)
    assert args == ["ssl"] and kwargs == {"port": "8999", "interface": "127.0.0.1",
                                          "privateKey": "/keys/k.pem", "certKey": "C:/certs/a:b.pem"}


def test_certificate_alone_is_a_pem_with_both() -> None:
    config = FakeConfig(tls_cert="/etc/blitz/both.pem")
    assert tls.listen_endpoint_description(config).endswith(
        "privateKey=/etc/blitz/both.pem:certKey=/etc/blitz/both.pem")


def test_key_without_certificate_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="tls_key is set"):
        tls.listen_endpoint_description(FakeConfig(tls_key="/k.pem"))


@pytest.mark.parametrize("port", [-1, 65536, "8999", True, None])
def test_bad_port_is_a_config_error(port: object) -> None:
    with pytest.raises(ConfigError, match="port: expected an integer"):
        tls.listen_endpoint_description(replace(FakeConfig(), port=port))  # type: ignore[arg-type]


def test_plain_endpoint_is_a_tcp4_endpoint() -> None:
    endpoint = tls.server_endpoint(task.Clock(), FakeConfig(port=8999))
    assert isinstance(endpoint, TCP4ServerEndpoint)


def test_tls_endpoint_needs_pyopenssl_or_readable_files() -> None:
    config = FakeConfig(tls_cert="/nonexistent/cert.pem", tls_key="/nonexistent/key.pem")
    with pytest.raises(ConfigError) as caught:
        tls.server_endpoint(task.Clock(), config)
    if tls.tls_available():
        assert "/nonexistent/cert.pem" in str(caught.value)
    else:
        assert "pyOpenSSL is not installed" in str(caught.value)
