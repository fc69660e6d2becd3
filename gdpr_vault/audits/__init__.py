"""Audits (GDPR Art. 28(3)(h)): requests, decisions, auditor access, evidence bundles, findings."""
