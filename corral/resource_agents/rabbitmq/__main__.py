"""`python -m corral.resource_agents.rabbitmq ACTION`: what resource.d/corral/rabbitmq runs."""
import sys

from corral.resource_agents.rabbitmq.agent import main

sys.exit(main(sys.argv[1:]))
