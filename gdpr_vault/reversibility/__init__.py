"""Reversibility and certified deletion (GDPR Art. 28(3)(g)); see docs/reversibility.md."""
