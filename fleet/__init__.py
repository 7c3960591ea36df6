"""The roof: the `interfleet` command and `interfleet up`, which start and supervise the fleet's services."""
