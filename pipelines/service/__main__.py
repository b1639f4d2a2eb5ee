"""`python -m pipelines.service`: what `make serve` runs (supervisor.py), with the commands' one-line errors for a
setting it cannot use."""

from pipelines.commands import exit_with
from pipelines.service.supervisor import main

exit_with(main)
