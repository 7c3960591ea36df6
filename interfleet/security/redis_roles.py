"""A Redis user per fleet role, with only the commands and keys that role uses.

Each service connects as its role (the URL's user, `redis://router@host/0`, with the password
from its own file; a worker as `worker_user` of its identity, `worker.w0`, or `worker` for the
pool of all), and the server's ACL (`user_line`, written into the embedded server's config
or into `users.acl` by `interfleet certs`) lets it do what that role does and nothing else:

| user      | may                                                                            |
|-----------|--------------------------------------------------------------------------------|
| worker    | write its own heartbeat (a pool: its ids'), the index, batch records, its certificate; no reads |
| router    | read heartbeats, models and certificates; prune the index; write interference marks |
| predictor | read the stream, heartbeats, marks and certificates; publish models           |
| planner   | read heartbeats, models and certificates; prune the index                      |
| admin     | the operator: everything but the dangerous (CONFIG, KEYS, FLUSHALL, DEBUG...) and scripts; INFO |
| probe     | PING, for health checks                                                        |

No role may run CONFIG, EVAL, FLUSHALL or KEYS; the `default` user is off (no one can log in as
it). A stolen worker password can write its own telemetry and shared records (which must still
be signed by the identity entitled to them to be believed, `signing`), never another worker's
state, never read the fleet's state or rewrite the server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# Connection set-up (AUTH, HELLO, SELECT) and PING. Not CLIENT SETINFO: Redis 7.0 has no such
# command, so an ACL naming it does not load there; redis-py ignores its refusal.
_CONNECT = "+auth +hello +client|setname +select +ping"
# Key patterns with what a role may do to them: %R~ read, %W~ write, %RW~ both (Redis 7.0+).
RULES = {
    "worker": "",  # per worker identity: `worker_rules`
    "router": "%R~interfleet:*:worker:* %RW~interfleet:*:workers %R~interfleet:*:predictor:* "
    "%RW~interfleet:*:identities %RW~interfleet:*:interference "
    "+get +mget +strlen +zrange +zrevrange +zrem +hmget +hset +hdel +expire",
    "predictor": "%R~interfleet:*:worker:* %RW~interfleet:*:workers %R~interfleet:*:batches "
    "%R~interfleet:*:interference %RW~interfleet:*:identities %RW~interfleet:*:predictor:* "
    "+get +set +mget +strlen +zrange +zrevrange +zrem +xread +hscan +hlen +hgetall +hmget +hset "
    "+watch +unwatch +multi +exec +discard",
    "planner": "%R~interfleet:*:worker:* %RW~interfleet:*:workers %R~interfleet:*:predictor:* "
    "%RW~interfleet:*:identities +get +mget +strlen +zrange +zrevrange +zrem +hmget +hset",
    "admin": "~* &* +@all -@dangerous -@scripting +info",  # INFO is "dangerous" only in what it shows
    "probe": "",
}
ROLES = tuple(RULES)
_GLOB = str.maketrans({c: "\\" + c for c in "*?[]\\"})


def worker_user(name: str) -> str:
    """The Redis user of worker identity `name` (an id, or a pool prefix ending in `*`): `worker`
    for the pool of every worker (`*`), `worker.<id>` or `worker.<prefix>_pool` otherwise."""
    if name == "*":
        return "worker"
    return "worker." + (name[:-1] + "_pool" if name.endswith("*") else name)


def worker_rules(name: str) -> str:
    """A worker writes its own state key only (a pool: its ids'), the shared index, stream and
    certificates, and reads nothing: a stolen worker password cannot overwrite another's state."""
    own = name[:-1].translate(_GLOB) + "*" if name.endswith("*") else name.translate(_GLOB)
    return (
        f"%W~interfleet:*:worker:{own} %W~interfleet:*:workers %W~interfleet:*:batches "
        "%W~interfleet:*:identities +set +zadd +xadd +hset"
    )


def user_line(user: str, password: str, rules: str) -> str:
    """The ACL line for `user` (its password stored as a SHA-256 digest, never in clear)."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    return f"user {user} on #{digest} resetchannels -@all {_CONNECT} {rules}".rstrip()


def acl_lines(passwords: dict[str, str], workers: Iterable[str] = ("*",)) -> list[str]:
    """Every role's line (`passwords` by user: each role, and `worker_user` of each worker
    identity in `workers`), and the default user switched off: no password, no login. It keeps its
    command rights because Redis 7.0 replays an append-only file's transactions as the default
    user (a persisted MULTI/EXEC would otherwise be refused on restart, and its keys lost)."""
    lines = ["user default off resetpass ~* &* +@all"]
    lines += [user_line(role, passwords[role], RULES[role]) for role in ROLES if role != "worker"]
    lines += [user_line(worker_user(w), passwords[worker_user(w)], worker_rules(w)) for w in workers]
    return lines


def users(workers: Iterable[str] = ("*",)) -> list[str]:
    """The Redis users of a fleet with these worker identities."""
    return [*(role for role in ROLES if role != "worker"), *(worker_user(w) for w in workers)]
