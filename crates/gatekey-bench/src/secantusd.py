# SecantusDB for the benchmark: the server of `secantusd-py`, with two of its costs brought to
# mongod's, so that they do not hide what Gatekey does.
#
# 1. The registry of retryable writes is pruned from the oldest end instead of by scanning it.
#
# SecantusDB keeps the reply of every retryable write (for 30 minutes, at most 10,000 of them) and
# prunes the registry on every write by scanning all of it, and by sorting all of it once it is
# full. A write then costs time in proportion to the writes before it: within one benchmark run
# mint throughput fell from 98/s to 15/s with nothing else changing, which hides what Gatekey
# does. mongod keeps one record per session, at a constant cost per write. Records are kept
# here in the order they were made (a record made again moves to the end), so the oldest is
# always first and the same records are dropped as SecantusDB drops them.
#
# 2. The TTL sweep deletes through the TTL index instead of reading every document.
#
# Once a minute, SecantusDB's TTL sweep reads and decodes every document of every collection with
# a TTL index, under the lock every command needs. With the 40,000 usage entries an ingest run
# stores, that held every command for 200-450 ms (measured with the lock timed), whatever
# expired: the half-second stalls of isolated mints beside the ingest. mongod's TTL monitor
# deletes by a range of the index, yielding as it goes, at a cost in proportion to what expired.
# Here each TTL index's expired range is deleted as a `deleteMany` on the same filter would be
# (index-planned, in chunks), which keeps what SecantusDB expires and when.
import datetime
import sys
from collections.abc import Mapping

from secantus import storage, transactions
from secantus.cli import main

registry = transactions.TransactionRegistry
for name in ("_prune_retryable_locked", "record_retryable"):
    if not hasattr(registry, name):
        sys.exit(f"this SecantusDB has no TransactionRegistry.{name}: update the bench's launcher")
for name in ("_RETRYABLE_RECORD_LIFETIME_SECONDS", "_RETRYABLE_RECORD_MAX"):
    if not hasattr(transactions, name):
        sys.exit(f"this SecantusDB has no transactions.{name}: update the bench's launcher")

for name in ("prune_ttl", "_iter_indexes", "delete_matching"):
    if not hasattr(storage.Storage, name):
        sys.exit(f"this SecantusDB has no Storage.{name}: update the bench's launcher")

record_retryable = registry.record_retryable


def record_last(self, lsid_bytes, txn_number, identity, reply):
    with self._lock:
        self._retryable.pop((lsid_bytes, txn_number), None)
    record_retryable(self, lsid_bytes, txn_number, identity, reply)


def prune_oldest(self):
    cutoff = self._time() - transactions._RETRYABLE_RECORD_LIFETIME_SECONDS
    records = self._retryable
    while records:
        oldest = next(iter(records))
        if records[oldest][1] >= cutoff and len(records) <= transactions._RETRYABLE_RECORD_MAX:
            break
        del records[oldest]


def ttl_filters(self, db, coll, when):
    """One filter per TTL index, as SecantusDB's sweep builds them: a single-field index other
    than `_id`, a date before the cutoff, within the index's partial filter."""
    for _name, key_spec, options in self._iter_indexes(db, coll):
        ttl = options.get("expireAfterSeconds")
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl != ttl or ttl < 0:
            continue
        if len(key_spec) != 1:
            continue
        field, direction = next(iter(key_spec.items()))
        if not isinstance(field, str) or field == "_id":
            continue
        if isinstance(direction, bool) or not isinstance(direction, (int, float)):
            continue
        try:
            cutoff = when - datetime.timedelta(seconds=float(ttl))
        except OverflowError:
            continue
        expired = {field: {"$lt": cutoff}}
        partial = options.get("partialFilterExpression")
        if isinstance(partial, Mapping) and partial:
            expired = {"$and": [expired, dict(partial)]}
        yield expired


def prune_ttl_by_index(self, db, coll, *, now=None):
    when = now if now is not None else datetime.datetime.now(datetime.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return sum(self.delete_matching(db, coll, expired) for expired in ttl_filters(self, db, coll, when))


registry.record_retryable = record_last
registry._prune_retryable_locked = prune_oldest
storage.Storage.prune_ttl = prune_ttl_by_index
sys.argv[0] = "secantusd-py"
sys.exit(main())
