"""Generated protobuf code for protos/interfleet/proto/*.proto (regenerate with `make protos`)."""
