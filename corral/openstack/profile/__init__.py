"""`corral init --profile openstack-controller`: a control plane's Corral configuration and haproxy.cfg.

| module | its one job |
| --- | --- |
| `catalog.py` | the API services: ports, health checks, commands |
| `inputs.py` | the command line's controllers, VIP and services, checked |
| `settings.py` | overrides of any generated value (settings file, `--set`) |
| `layout.py` | which resources and constraints, with which values |
| `yaml_out.py`, `haproxy_cfg.py` | the two files |
| `generate.py` | all of it from the inputs; `rewrite.py` the re-run's diff |
"""
