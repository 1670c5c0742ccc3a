"""The ``kaimen`` command-line tool."""
