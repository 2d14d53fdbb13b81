"""Shared pytest fixtures; the real-service ones live in their own plugin modules."""

pytest_plugins = ["tests.redis_fixtures", "tests.postgres_fixtures"]
