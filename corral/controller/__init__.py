"""The controller: elected through the store, it runs the scheduler on every change and
drives the resulting actions across the nodes (see docs/architecture.md)."""
