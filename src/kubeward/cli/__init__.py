"""Command-line entry points only: parse arguments, call the library, render output."""
