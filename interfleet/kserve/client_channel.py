"""What a client passes to reach several routers as one: a gRPC `round_robin` channel that retries elsewhere.

A fleet runs two or more routers so that restarting one loses nothing. A client (tritonclient,
the load generator, a Kubernetes pod dialling a headless Service) gets there with gRPC's own
client-side load balancing rather than a proxy:

    import tritonclient.grpc as grpcclient
    from interfleet.kserve.client_channel import channel_args, target

    client = grpcclient.InferenceServerClient(
        target(["10.0.0.5:8001", "10.0.0.6:8001"]),  # or "dns:///routers.ns.svc:8001" (headless)
        channel_args=channel_args(),
    )

- `round_robin` keeps a connection to every router and spreads calls over the READY ones, and
  with client-side health checking a router counts as READY only while its health service
  says SERVING. A router told to stop turns NOT_SERVING first and keeps serving for its
  `drain_s`, so clients stop picking it before it stops accepting calls (gRPC cancels calls
  that reach a server as it shuts down, a status no retry policy should retry); one that is
  down is refused and skipped, and gRPC reconnects when it returns.
- Calls a stopping router had not started are retried transparently by gRPC on another; the
  retry policy below also retries, on another router, a call answered UNAVAILABLE (a router
  gone between the pick and the call), at most `attempts` times within the call's deadline.
  That is safe for inference on stateless models: running a request twice gives the same
  answer, and the client sees one. (Sequence models are not retried this way.)
- tritonclient replaces all its channel options with `channel_args`, so the message limits it
  would set are set here too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

SERVICE = "inference.GRPCInferenceService"
MAX_MESSAGE_BYTES = 2**31 - 1  # tritonclient's own default: the server enforces the real limit


def target(addresses: Sequence[str]) -> str:
    """A gRPC target naming every router (host:port each): `ipv4:` for literal addresses, else `ipv6:`
    or DNS, which a headless Service's name resolves to every pod."""
    if len(addresses) == 1:
        return addresses[0]
    return "ipv4:" + ",".join(addresses)


def service_config(attempts: int = 3) -> str:
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            # Picks only routers whose health service says SERVING: one draining is left at once.
            "healthCheckConfig": {"serviceName": ""},
            "methodConfig": [
                {
                    "name": [{"service": SERVICE}],
                    "retryPolicy": {
                        "maxAttempts": attempts,
                        "initialBackoff": "0.001s",
                        "maxBackoff": "0.01s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ],
        }
    )


def channel_args(attempts: int = 3, reconnect_ms: int = 100) -> list[tuple[str, object]]:
    """Channel options for tritonclient's `channel_args` (or `grpc.aio.insecure_channel`'s `options`):
    round_robin, the retry policy, and reconnection within `reconnect_ms` to a router that returns
    (gRPC's default backoff grows to two minutes)."""
    return [
        ("grpc.service_config", service_config(attempts)),
        ("grpc.enable_retries", 1),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.initial_reconnect_backoff_ms", reconnect_ms),
        ("grpc.min_reconnect_backoff_ms", reconnect_ms),
        ("grpc.max_reconnect_backoff_ms", 5 * reconnect_ms),
    ]
