import sys

from corral.fencing.cli import main

sys.exit(main())
