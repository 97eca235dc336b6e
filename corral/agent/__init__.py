"""The per-node daemon: membership lease, executor, recurring monitors, self-fencing,
and a candidacy for controller (see docs/architecture.md)."""
