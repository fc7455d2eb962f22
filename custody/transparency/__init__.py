"""The transparency log: one RFC 9162 Merkle tree of event hashes, signed checkpoints and witnesses."""
