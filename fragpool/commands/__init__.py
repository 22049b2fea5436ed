"""Subcommands of the `fragpool` command, one module each (see fragpool.cli)."""
