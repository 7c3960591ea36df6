"""Fleet telemetry in Redis: the key schema, the worker's publisher and the router's view of it."""
