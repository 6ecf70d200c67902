"""Command-line interface (typer); every command wraps a library function."""
