"""Schemathesis hooks for Zynk's API (loaded by scripts/test.sh through schemathesis.toml).

`PATCH /api/v1/files/{file_id}/upload` takes raw bytes as `application/offset+octet-stream`
(the tus upload media type): send generated bodies as plain bytes, like octet-stream.
"""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
