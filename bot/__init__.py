"""The runtime and the ways in: the command line, the web server, the scheduler, the platforms."""
