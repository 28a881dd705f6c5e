"""Stats for notebooks and the terminal (``describe``) and the run's HTML report (``html``)."""
