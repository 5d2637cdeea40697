# SecantusDB for the benchmark: the server of `secantusd-py`, with its registry of retryable
# writes pruned from the oldest end instead of by scanning it.
#
# SecantusDB keeps the reply of every retryable write (for 30 minutes, at most 10,000 of them) and
# prunes the registry on every write by scanning all of it, and by sorting all of it once it is
# full. A write then costs time in proportion to the writes before it: within one benchmark run
# mint throughput fell from 98/s to 15/s with nothing else changing, which hides what Gatekey
# does. mongod keeps one record per session, at a constant cost per write. Records are kept
# here in the order they were made (a record made again moves to the end), so the oldest is
# always first and the same records are dropped as SecantusDB drops them.
import sys

from secantus import transactions
from secantus.cli import main

registry = transactions.TransactionRegistry
for name in ("_prune_retryable_locked", "record_retryable"):
    if not hasattr(registry, name):
        sys.exit(f"this SecantusDB has no TransactionRegistry.{name}: update the bench's launcher")
for name in ("_RETRYABLE_RECORD_LIFETIME_SECONDS", "_RETRYABLE_RECORD_MAX"):
    if not hasattr(transactions, name):
        sys.exit(f"this SecantusDB has no transactions.{name}: update the bench's launcher")

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


registry.record_retryable = record_last
registry._prune_retryable_locked = prune_oldest
sys.argv[0] = "secantusd-py"
sys.exit(main())
