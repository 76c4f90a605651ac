"""Preference dataset builder: recipe → cleaned SFT / pairwise / unary datasets + ledger."""
__version__ = "0.1.0"
