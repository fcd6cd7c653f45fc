"""OpenAPI v2 (`/openapi/v2`) and v3 (`/openapi/v3`, `/openapi/v3/<gv>`) documents for the served kinds.

`schemas` builds every kind's schema from the official `kubernetes` Python client's models (and the
patch facts the models lack); `documents` lays out the paths and operations of each group version
and serves the documents. Both are built once, on the first request.
"""

from nonstop.sandbox.openapi.documents import document_v2, document_v3, index_v3
from nonstop.sandbox.openapi.schemas import PATCH_TYPES, schemas_v3

__all__ = ["PATCH_TYPES", "document_v2", "document_v3", "index_v3", "schemas_v3"]
