"""The `qi-nudge` command: main.py wires every subcommand; one module per group of them."""
