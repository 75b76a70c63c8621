"""One module per `kws` verb: `add_arguments(parser)` and `run(args) -> exit code`."""
