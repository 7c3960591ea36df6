"""A local fleet: the fleet config file and the supervisor behind `interfleet up`."""
