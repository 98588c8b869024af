"""Bounded integers of the API's paths, queries and bodies.

The catalog stores ids as SQLite INTEGERs (signed 64-bit): a larger Python int raises
``OverflowError`` in the driver, so every integer a client sends is bounded here and an
out-of-range one is a 422 problem, never a 500. The bounds are also in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from furet.services.learning import MAX_SEED

#: SQLite's largest INTEGER (and PostgreSQL's BIGINT).
MAX_INT64 = 2**63 - 1

ItemId = Annotated[int, Field(ge=0, le=MAX_INT64, description="an item id")]
ClassId = Annotated[int, Field(ge=0, le=MAX_INT64, description="a class id")]
KeyId = Annotated[int, Field(ge=0, le=MAX_INT64, description="an API key id")]
UserId = Annotated[int, Field(ge=0, le=MAX_INT64, description="a user id")]
#: A count stored in the catalog (a daily quota, an offset).
Count = Annotated[int, Field(ge=0, le=MAX_INT64)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED, description="random seed, 0 to 2**32 - 1")]
