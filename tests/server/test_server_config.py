"""ServerConfig: flags > environment > file > defaults, and clear errors; port discovery."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from blitz.errors import ConfigError
from blitz.server.config import ServerConfig, load_config
from blitz.server.discovery import PortWatcher, scan_usb_ports


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "server.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    config = load_config({}, {})
    assert config == ServerConfig()
    assert config.host == "127.0.0.1" and config.port == 8999 and config.poll_interval_s == 0.1
    assert config.listen == "tcp:port=8999:interface=127.0.0.1"


def test_flags_beat_environment_beat_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nport = 7000\npoll_interval_s = 0.2\nserial = ["/dev/ttyACM0"]\n'
                           'allow_delete = false\n')
    env = {"BLITZ_PORT": "7100", "BLITZ_SERIAL": "/dev/ttyUSB0, /dev/ttyUSB1"}
    config = load_config({"port": 7200, "host": None}, env, path)
    assert config.port == 7200 and config.sources["port"] == "flag"
    assert config.serial == ("/dev/ttyUSB0", "/dev/ttyUSB1") and config.sources["serial"] == "env"
    assert config.poll_interval_s == 0.2 and config.sources["poll_interval_s"] == "file"
    assert config.allow_delete is False


def test_config_file_from_environment_and_top_level_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "scan = false\nreset_wait_s = 0\n")
    config = load_config({}, {"BLITZ_CONFIG": str(path), "BLITZ_ALLOW_RESET": "no"})
    assert config.scan is False and config.reset_wait_s == 0 and config.allow_reset is False


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"port": 70000}, {}, "port"),
        ({}, {"BLITZ_PORT": "eighty"}, "environment BLITZ_PORT: bad value 'eighty' for port"),
        ({}, {"BLITZ_SCAN": "maybe"}, "expected true/false"),
        ({"poll_interval_s": 0}, {}, "poll_interval_s must be above 0"),
        ({"redis_url": "http://x"}, {}, "redis_url must start with"),
        ({"tls_key": "/k.pem"}, {}, "tls_key is set but tls_cert is not"),
        ({"tls_cert": "/nonexistent.pem"}, {}, "does not exist"),
        ({"host": "0.0.0.0"}, {}, "refusing to listen on '0.0.0.0' without a token"),
        ({"appendfsync": "sometimes"}, {}, "appendfsync"),
    ],
)
def test_bad_values_say_what_and_where(flags: dict, env: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        load_config(flags, env)


def test_public_host_with_token_is_allowed() -> None:
    config = load_config({"host": "0.0.0.0"}, {"BLITZ_TOKEN": "s3cret"})
    assert config.token == "s3cret" and not config.is_loopback
    assert load_config({"host": "::1"}, {}).is_loopback


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config({}, {}, tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config({}, {}, write(tmp_path, "port = = 1"))
    with pytest.raises(ConfigError, match="unknown keys prot"):
        load_config({}, {}, write(tmp_path, "prot = 1"))
    with pytest.raises(ConfigError, match="config file .*bad value"):
        load_config({}, {}, write(tmp_path, 'port = "x"'))


def test_scan_keeps_usb_ports_only() -> None:
    ports = [SimpleNamespace(device="/dev/ttyS0", vid=None), SimpleNamespace(device="/dev/ttyACM1", vid=0x2341),
             SimpleNamespace(device="/dev/ttyACM0", vid=0x2341)]
    assert scan_usb_ports(lambda: ports) == ["/dev/ttyACM0", "/dev/ttyACM1"]


def test_port_watcher_adds_each_port_once(tmp_path: Path) -> None:
    target = tmp_path / "ttyACM0"
    target.touch()
    link = tmp_path / "board-08"
    link.symlink_to(target)
    present = [SimpleNamespace(device=str(target), vid=1)]
    added: list[str] = []
    watcher = PortWatcher([str(link), "socket://127.0.0.1:7000"], added.append, comports=lambda: present)
    assert watcher.refresh() == [str(link), "socket://127.0.0.1:7000"]  # the symlink covers the device
    present.append(SimpleNamespace(device="/dev/ttyUSB3", vid=2))
    assert watcher.refresh() == ["/dev/ttyUSB3"]
    assert watcher.refresh() == []
    assert added == [str(link), "socket://127.0.0.1:7000", "/dev/ttyUSB3"]
