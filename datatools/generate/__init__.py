"""The `generate` step (datatools/generate/step.py) and its backends; registered in
datatools/registry.py."""
