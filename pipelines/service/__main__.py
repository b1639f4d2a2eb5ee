"""`python -m pipelines.service`: what `make serve` runs (supervisor.py)."""

import sys

from pipelines.service.supervisor import main

sys.exit(main())
