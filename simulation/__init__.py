"""A discrete-event simulator of a fleet of emulated GPUs, driving the fleet's own decision code.

The router's `RouterCore` with its policies and predictor, the workers' `ModelQueue` with their
batchers and latency profiles, and the emulated device model run unchanged; only the network,
processes and clocks are replaced by a heap of timed events. So a policy evaluated here at
10,000 GPUs is the policy the live router runs, and a small fleet simulated here can be checked
against the same fleet run for real on emulated GPUs.
"""
