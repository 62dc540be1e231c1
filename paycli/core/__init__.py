"""The service layer: no typer, no rich. Services take their clients and return dataclasses."""
