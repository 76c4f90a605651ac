"""Steps that synthesise records (prompts with verifiable constraints)."""
