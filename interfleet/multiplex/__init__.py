"""Router-to-worker inference multiplexed over long-lived connections.

`frames` is the wire format (`WorkerInference.Infer` in protos/). It travels on a bidirectional
gRPC stream, or, where the worker offers it (a fleet without TLS), on a plain TCP connection,
which costs each request a fraction of the CPU: `links` are the two ways the router's side
carries frames, `client` that side (a small pool of streams per worker), `server` the worker's
side, `sockets` the worker's TCP listener, and `entry_reader` what both ends of a TCP
connection read.
"""
