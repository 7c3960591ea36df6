"""A Redis user per fleet role, with only the commands and keys that role uses.

Each service connects as its role (the URL's user, `redis://worker@host/0`, with the password
from its own file), and the server's ACL (`user_line`, written into the embedded server's config
or into `users.acl` by `interfleet certs`) lets it do what that role does and nothing else:

| user      | may                                                                            |
|-----------|--------------------------------------------------------------------------------|
| worker    | write its heartbeat, the worker index, batch records and its certificate; read nothing |
| router    | read heartbeats, models and certificates; prune the index; write interference marks |
| predictor | read the stream, heartbeats, marks and certificates; publish models           |
| admin     | the operator: everything but the dangerous (CONFIG, KEYS, FLUSHALL, DEBUG...) and scripts; INFO |
| probe     | PING, for health checks                                                        |

No role may run CONFIG, EVAL, FLUSHALL or KEYS; the `default` user is off (no one can log in as it). A stolen worker
password can write telemetry (which must still be signed by a worker identity to be believed,
`signing`), never read the fleet's state or rewrite the server.
"""

from __future__ import annotations

import hashlib

# Connection set-up (AUTH, HELLO, SELECT) and PING. Not CLIENT SETINFO: Redis 7.0 has no such
# command, so an ACL naming it does not load there; redis-py ignores its refusal.
_CONNECT = "+auth +hello +client|setname +select +ping"
# Key patterns with what a role may do to them: %R~ read, %W~ write, %RW~ both (Redis 7.0+).
RULES = {
    "worker": "%W~interfleet:*:worker:* %W~interfleet:*:workers %W~interfleet:*:batches "
    "%W~interfleet:*:identities +set +zadd +xadd +hset",
    "router": "%R~interfleet:*:worker:* %RW~interfleet:*:workers %R~interfleet:*:predictor:* "
    "%RW~interfleet:*:identities %RW~interfleet:*:interference "
    "+get +mget +strlen +zrange +zrevrange +zrem +hmget +hset +hdel +expire",
    "predictor": "%R~interfleet:*:worker:* %RW~interfleet:*:workers %R~interfleet:*:batches "
    "%R~interfleet:*:interference %RW~interfleet:*:identities %RW~interfleet:*:predictor:* "
    "+get +set +mget +strlen +zrange +zrevrange +zrem +xread +hscan +hlen +hgetall +hmget +hset "
    "+watch +unwatch +multi +exec +discard",
    "admin": "~* &* +@all -@dangerous -@scripting +info",  # INFO is "dangerous" only in what it shows
    "probe": "",
}
ROLES = tuple(RULES)


def user_line(role: str, password: str) -> str:
    """The ACL line for `role` (its password stored as a SHA-256 digest, never in clear)."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    return f"user {role} on #{digest} resetchannels -@all {_CONNECT} {RULES[role]}".rstrip()


def acl_lines(passwords: dict[str, str]) -> list[str]:
    """Every role's line, and the default user switched off: no password, no login. It keeps its
    command rights because Redis 7.0 replays an append-only file's transactions as the default
    user (a persisted MULTI/EXEC would otherwise be refused on restart, and its keys lost)."""
    return ["user default off resetpass ~* &* +@all", *(user_line(role, passwords[role]) for role in ROLES)]
