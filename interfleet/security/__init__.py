"""Who may talk to the fleet and what it may believe: TLS, client tokens, signed records."""
