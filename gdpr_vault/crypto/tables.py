"""The wrapped per-client data keys. Deleting a row is the crypto-erase."""

from piccolo.columns import Text, Timestamptz, Varchar
from piccolo.table import Table


class ClientDataKey(Table, tablename="client_data_key"):
    id = Varchar(length=40, primary_key=True)  # the public key id, "dk_…"
    client_id = Varchar(length=40, unique=True)
    method = Varchar(length=20)  # "master-aes-gcm" | "kms"
    wrapped_key = Text()  # sealed by the master key, or a KMS CiphertextBlob in base64
    wrapping_key_id = Varchar(length=300)  # master key fingerprint, or the KMS key id / ARN
    kms_dedicated = Varchar(length=5, default="no")  # "yes": a KMS key of its own, deleted on erase
    created_at = Timestamptz()
