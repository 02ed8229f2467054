"""Public ids: how a row is named outside the database (the REST API), never its primary key.

They follow the reference platform's shape, a type prefix and 15 random letters and digits
(`CID_5Qx0...`), e.g. `SV_` survey, `POOL_` directory, `CG_` mailing list, `CID_` contact,
`CTR_` transaction, `EMD_` distribution, `R_` response, `ES_` response export. 15 characters of 62 carry 89 bits:
unguessable, so an id tells nothing about how many rows there are or which came before it.
"""

import secrets
import string

from django.db import models

ALPHABET = string.ascii_letters + string.digits
RANDOM_LENGTH = 15


# The largest multiple of len(ALPHABET) a byte can take: bytes from it up are dropped, so every
# character is equally likely (a byte modulo 62 alone would favour the first 8 characters).
_UNBIASED_BYTES = 256 - 256 % len(ALPHABET)


def new_public_id(prefix: str) -> str:
    """`prefix` followed by RANDOM_LENGTH random letters and digits (secrets: a CSPRNG).

    Random bytes read at once, where secrets.choice reads the system's random source once per
    character: ids are made for every contact and distribution a batch inserts."""
    characters: list[str] = []
    while len(characters) < RANDOM_LENGTH:
        characters += [
            ALPHABET[byte % len(ALPHABET)] for byte in secrets.token_bytes(2 * RANDOM_LENGTH) if byte < _UNBIASED_BYTES
        ]
    return prefix + "".join(characters[:RANDOM_LENGTH])


class PublicIdField(models.CharField):
    """A unique public id with a fixed prefix, set when the row is first inserted and kept after.

    Filled in pre_save, which bulk_create calls for every row too, so no way of inserting a row
    leaves it without one (as distributions' TokenDigestField does for token digests).
    """

    def __init__(self, *args, prefix: str, **kwargs):
        self.prefix = prefix
        super().__init__(*args, **{"max_length": 32, "editable": False, "unique": True, **kwargs})

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        # unique always, as __init__ defaults it to True: a migration that adds the field
        # nullable and not unique yet, to fill it, must be able to say so.
        return name, path, args, {**kwargs, "prefix": self.prefix, "unique": self._unique}

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if not value:
            value = new_public_id(self.prefix)
            setattr(model_instance, self.attname, value)
        return value


def public_ids_backfill(model, *, batch_size: int = 2000) -> None:
    """Give every row of `model` (a migration's historical model) without a public id a new one.

    For data migrations that add a PublicIdField: add it nullable, backfill, then make it unique
    and required. By primary-key ranges: SQLite gives no isolation between a read cursor and
    writes to its table.
    """
    field = model._meta.get_field("public_id")
    last = 0
    while batch := list(
        model._base_manager.filter(pk__gt=last, public_id__isnull=True).order_by("pk").only("pk")[:batch_size]
    ):
        for row in batch:
            row.public_id = new_public_id(field.prefix)
        model._base_manager.bulk_update(batch, ["public_id"])
        last = batch[-1].pk
