"""The database as a Merkle subtree hash source: O(log n) rows per root or proof, in one query."""

from __future__ import annotations

from collections.abc import Collection

from django.db import connection

from custody.merkle import Coordinate, leaf_hash
from custody.transparency.models import LogLeaf, LogNode


class StoredTree:
    """Reads complete subtrees: level 0 from LogLeaf (hashing the event hash), higher levels from LogNode."""

    def __init__(self) -> None:
        self.rows_read = 0
        self.queries = 0

    def subtree_hashes(self, coordinates: Collection[Coordinate]) -> dict[Coordinate, bytes]:
        leaf_indices = sorted({index for level, index in coordinates if level == 0})
        node_keys = sorted({(level, index) for level, index in coordinates if level > 0})
        if not leaf_indices and not node_keys:
            return {}
        # Plain SQL on purpose: every proof runs this, and compiling the ORM's tuple lookup cost more
        # than the database's answer. Both parts are primary-key lookups.
        quote = connection.ops.quote_name
        level, index = quote("level"), quote("index")
        parts: list[str] = []
        params: list[int] = []
        if leaf_indices:
            placeholders = ", ".join(["%s"] * len(leaf_indices))
            parts.append(
                f"SELECT 0, {index}, {quote('event_hash')} FROM {quote(LogLeaf._meta.db_table)} "
                f"WHERE {index} IN ({placeholders})"
            )
            params.extend(leaf_indices)
        if node_keys:
            placeholders = ", ".join(["(%s, %s)"] * len(node_keys))
            parts.append(
                f"SELECT {level}, {index}, {quote('hash')} FROM {quote(LogNode._meta.db_table)} "
                f"WHERE ({level}, {index}) IN ({placeholders})"
            )
            params.extend(value for key in node_keys for value in key)
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            rows = cursor.fetchall()
        self.queries += 1
        self.rows_read += len(rows)
        return {
            (int(row_level), int(row_index)): leaf_hash(bytes(digest)) if row_level == 0 else bytes(digest)
            for row_level, row_index, digest in rows
        }
