"""Fleet telemetry in Redis: the key schema, the worker's publisher, the heartbeat reader and the mark format."""
