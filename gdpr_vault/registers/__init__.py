"""Processing registers (GDPR Art. 30): versioned activities shared across controller clients."""
