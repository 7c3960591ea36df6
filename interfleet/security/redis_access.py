"""A Redis client from the fleet's one URL, with the password from a file where one is given.

The URL carries everything else (`rediss://` for TLS, `?ssl_ca_certs=...&ssl_certfile=...` for
its files, `:password@` inline). A mounted secret can hold the password instead
(`redis_password_file`, env `REDIS_PASSWORD_FILE`), so it appears in no URL, environment or
command line.
"""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from interfleet.errors import ConfigError


def redis_client(url: str, password_file: str | None = None, **options) -> aioredis.Redis:
    if password_file:
        try:
            options["password"] = Path(password_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the Redis password file {password_file}: {exc.strerror}"
            ) from None
    return aioredis.from_url(url, **options)
