"""Typer only: one module per noun, each a typer.Typer() mounted on the root app."""
