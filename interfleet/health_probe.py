"""`interfleet health`: exit 0 if a server's gRPC health service says SERVING, else 1.

What container health checks and Kubernetes exec probes run; it asks the standard
grpc.health.v1 service that the router and every worker register (over TLS when given a CA;
the health service needs no token). A server answering RESOURCE_EXHAUSTED is up and refusing
calls beyond its `max_concurrent_calls`: that passes (exit 0, saying so), since restarting or
unlisting an overloaded router only moves its load onto the others.
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from interfleet.security.client import ClientAccess
from interfleet.security.tls import TlsFiles


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address",
        default=None,
        help="host:port to check (default $INTERFLEET_HEALTH_ADDRESS or 127.0.0.1:8001)",
    )
    parser.add_argument("--service", default="", help="service name to check ('' is the whole server)")
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument(
        "--tls-ca",
        default=None,
        help="verify a TLS server against this CA (default $INTERFLEET_HEALTH_TLS_CA; unset: plaintext)",
    )
    parser.add_argument(
        "--tls-cert",
        default=None,
        help="client certificate, where the server requires mTLS (default $INTERFLEET_HEALTH_TLS_CERT)",
    )
    parser.add_argument("--tls-key", default=None, help="its key (default $INTERFLEET_HEALTH_TLS_KEY)")


def run(args: argparse.Namespace) -> None:
    address = args.address or os.environ.get("INTERFLEET_HEALTH_ADDRESS") or "127.0.0.1:8001"
    env = os.environ.get
    access = ClientAccess(
        TlsFiles(
            cert=args.tls_cert or env("INTERFLEET_HEALTH_TLS_CERT"),
            key=args.tls_key or env("INTERFLEET_HEALTH_TLS_KEY"),
            ca=args.tls_ca or env("INTERFLEET_HEALTH_TLS_CA"),
        )
    )
    with access.channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                print(f"{address}: SERVING (overloaded: {error.details()})")
                sys.exit(0)
            sys.exit(f"{address}: {error.code().name}: {error.details()}")
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{address}: {status}")
    sys.exit(0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1)
