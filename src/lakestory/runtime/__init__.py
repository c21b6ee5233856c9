"""Planning and running: the plan, the runner, the event bus and the run records."""
