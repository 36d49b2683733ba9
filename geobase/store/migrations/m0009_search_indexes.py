"""Indexes for answering catalogue searches from the indexes alone.

A search asks, for every candidate record, whether a removal event names its version
(``dataset_events`` by dataset and version) and orders by acquisition date; filters by
classification. Without these each candidate scanned the whole event table, which grows
with the catalogue's history.
"""

from geobase.store.base import Transaction


def upgrade(tx: Transaction) -> None:
    tx.create_index("dataset_events", ["dataset_id", "version"])
    tx.create_index("datasets", ["acquired_end"])
    tx.create_index("datasets", ["classification"])
