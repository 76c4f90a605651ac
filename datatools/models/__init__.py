"""Models on disk and in memory: the offline SmolLM2 conversion (`datatools models smollm2`) and
the typed registry that loads a model once and releases it after its last user."""
