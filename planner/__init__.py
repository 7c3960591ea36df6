"""The placement planner: which models share which GPU, how many replicas, and each one's batch cap.

A control plane over plain data (no gRPC, no Redis in its pure modules), so the simulator, the
`interfleet plan` command and the live planner service run the same code:

- `capacity`: the rate each member of a co-location group serves within its SLO on a GPU type,
  from solo profiles and a degradation estimate (a queueing model of the adaptive batcher);
- `milp`: the mixed-integer program over candidate groups (HiGHS, through `scipy.optimize.milp`);
- `planner`: inventory and demand in, a `Plan` out;
- `baselines`: the placements users run today, for comparison;
- `plan_file`: plans as JSON files.
"""
