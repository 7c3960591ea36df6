"""The KServe v2 / Triton gRPC protocol as both the router and the workers serve it."""
