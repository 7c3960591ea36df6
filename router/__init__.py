"""The router: a KServe v2 / Triton gRPC endpoint that dispatches each request to a worker."""
