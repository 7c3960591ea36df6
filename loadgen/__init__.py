"""The trace-driven, open-loop load generator (`interfleet loadgen`)."""
