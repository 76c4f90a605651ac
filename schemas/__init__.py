"""Pydantic models only, no I/O: records (`schemas.records`), the recipe (`schemas.recipe`),
train and push sections, and the typed user errors (`schemas.errors`, no pydantic: the CLI
imports it at start). Import the submodules; this package imports nothing, so a command's
`--help` does not pay for pydantic."""
