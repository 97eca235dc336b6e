"""Compute HA (corral.openstack) against a fake Nova, and end to end against a real one (e2e/).

Not named `openstack`: pytest puts tests/ on sys.path, and a test package of that name shadows
openstacksdk in every test process."""
