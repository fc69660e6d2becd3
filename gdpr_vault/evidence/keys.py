"""The service's Ed25519 signing key: given by path, or generated once into ./var/keys/."""

from __future__ import annotations

from functools import cache

from exporters.signing import SigningKey, generate_key, load_private_key, save_private_key
from gdpr_vault.settings import get_settings


@cache
def service_signing_key() -> SigningKey:
    path = get_settings().effective_signing_key_path
    if path.exists():
        return load_private_key(path)
    key = generate_key()
    save_private_key(key, path)
    return key


def public_keyring() -> dict[str, object]:
    """What /api/v1/keys publishes: every key id a verifier may meet, with its PEM."""
    key = service_signing_key()
    return {
        "keys": [
            {
                "keyid": key.keyid,
                "algorithm": "ed25519",
                "public_key_pem": key.public_pem().decode("ascii"),
            }
        ]
    }
