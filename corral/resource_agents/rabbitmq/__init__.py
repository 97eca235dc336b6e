"""ocf:corral:rabbitmq, Corral's RabbitMQ agent (standard library only: it also runs under Pacemaker).

Modules: params (parameters, checks, meta-data), node (the beam, the CLI, the AMQP probe),
cluster (peers through crm_node / crm_attribute), agent (the actions). The executable is
corral/resource_agents/resource.d/corral/rabbitmq.
"""
