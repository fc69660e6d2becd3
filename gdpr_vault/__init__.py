"""gdpr-vault: a data processor's GDPR obligations towards its clients, run and proven."""

__version__ = "0.1.0"
