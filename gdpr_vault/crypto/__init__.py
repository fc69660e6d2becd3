"""Per-client data keys, the master key that wraps them, and the encrypted-export stream format.

See docs/adr/0004-crypto-erasure.md: every copy of a client's data the vault keeps at rest is
encrypted under that client's own 256-bit data key; destroying the wrapped key (and, with KMS,
scheduling the wrapping key's deletion) makes every copy unreadable, backups included.
"""
