"""``python -m curate`` (and ``accelerate launch -m curate ...``)."""

from curate.cli import main

main()
