# Loaded by the Python that runs moto_server: the local runner puts this file's folder first on
# PYTHONPATH. Most patches change how fast moto answers, not what it answers: each fixed a cost
# that made moto, not the pipeline, the bound of a local run. One fixes a race that lost SQS
# messages. Numbers from moto 5.2 on the two-core machine this project is built on.
import functools
import time


def _cache_jsonpath():
    # moto's EventBridge parses the same eight JSONPath expressions for every event it delivers
    # to a target, and jsonpath_ng builds a new LALR parser for each parse, about 30 ms apiece:
    # 120 ms an event. Parsed expressions are immutable, so they can be shared: about 1 ms.
    import jsonpath_ng.ext as ext

    ext.parse = functools.lru_cache(maxsize=1024)(ext.parse)


def _fast_sqs_clock():
    # moto's SQS asks for the time once per message per scan of a queue, through datetime
    # arithmetic (about 5 us a call). time.time() is the same instant, ten times cheaper.
    import moto.sqs.models as sqs

    slow, slow_millis = sqs.unix_time, sqs.unix_time_millis

    def unix_time(dt=None):
        return time.time() if dt is None else slow(dt)

    def unix_time_millis(dt=None):
        return time.time() * 1000.0 if dt is None else slow_millis(dt)

    sqs.unix_time, sqs.unix_time_millis = unix_time, unix_time_millis


def _cache_sqs_counts(ttl=0.1):
    # Sending one message reads the queue's attributes six times, and receiving one reads them
    # once, and each read counts the visible, delayed and in-flight messages by scanning the whole
    # queue: a call's cost grew with the queue, so a SendMessageBatch to a FIFO queue of a thousand
    # messages took a second and one of ten thousand ten. Those reads want other attributes: for
    # them each count is reused for 100 ms. A GetQueueAttributes call, where a caller sees the
    # counts, counts afresh.
    import threading

    import moto.sqs.models as sqs
    import moto.sqs.responses as responses

    asked = threading.local()  # set while this thread answers GetQueueAttributes

    for name in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
    ):
        count = getattr(sqs.Queue, name).fget

        def cached(queue, name=name, count=count):
            if getattr(asked, "fresh", False):
                return count(queue)
            now = time.monotonic()
            memo = queue.__dict__.setdefault("_s2e_counts", {})
            hit = memo.get(name)
            if hit is not None and now - hit[0] < ttl:
                return hit[1]
            value = count(queue)
            memo[name] = (now, value)
            return value

        setattr(sqs.Queue, name, property(cached))

    answer = responses.SQSResponse.get_queue_attributes

    def get_queue_attributes(self, *args, **kwargs):
        asked.fresh = True
        try:
            return answer(self, *args, **kwargs)
        finally:
            asked.fresh = False

    responses.SQSResponse.get_queue_attributes = get_queue_attributes


def _lock_sqs_writes():
    # moto_server answers each request on its own thread, and a queue's delete rebuilds the list
    # of its messages from a copy without the queue's lock, while a send appends to it under the
    # lock: a message sent during a delete was dropped (19 of 10,000 lost with three consumers
    # deleting while a producer sent). Deletes and sends of a queue now take its lock, so they
    # happen one after the other; the lock is reentrant, and receives wait on it as before.
    import moto.sqs.models as sqs

    for name in ("delete_message", "add_message"):
        unlocked = getattr(sqs.Queue, name)

        def locked(queue, *args, unlocked=unlocked, **kwargs):
            with queue._messages_lock:
                return unlocked(queue, *args, **kwargs)

        setattr(sqs.Queue, name, locked)


def _cache_routing():
    # To find the service a request is for, moto lists its own package folder (a stat call for
    # each of its 170 services) and then tries its URL patterns, for every request and under one
    # lock that every request thread waits on. Neither the folder nor the patterns change while
    # the server runs: the answer for each host is kept.
    import moto.backends as backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication as app

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    find = app.get_backend_for_host

    def get_backend_for_host(self, host):
        known = self.__dict__.setdefault("_s2e_hosts", {})
        if host not in known:
            known[host] = find(self, host)
        return known[host]

    app.get_backend_for_host = get_backend_for_host


def _index_kinesis_shards():
    # moto's Kinesis shard keeps its records in an ordered dict by sequence number, and copied
    # every key to a list to read the first or last one (each PutRecord reads the last), and read
    # every record from the shard's start to find where a GetRecords begins: both grew with the
    # stream, and the change archive's stream gets a record for every record stored. A shard's
    # sequence numbers are consecutive (each is the last plus one; trimming removes the oldest),
    # so a GetRecords can start at its place; where they are not, moto's own reading is used.
    import moto.kinesis.models as kinesis

    shard = kinesis.Shard

    def get_min_sequence_number(self):
        return next(iter(self.records)) if self.records else 0

    def get_max_sequence_number(self):
        return next(reversed(self.records)) if self.records else 0

    read_from_start = shard.get_records

    def get_records(self, last_sequence_id, limit):
        records = self.records
        if not records or (limit is not None and limit < 1):
            return read_from_start(self, last_sequence_id, limit)
        first, last = next(iter(records)), next(reversed(records))
        if last - first + 1 != len(records):
            return read_from_start(self, last_sequence_id, limit)
        after = int(last_sequence_id)
        newest = records[last]
        results, behind = [], 0.0
        for seq in range(max(after + 1, first), last + 1):
            if limit is not None and len(results) == limit:
                break
            results.append(records[seq])
            after = seq
            behind = newest.created_at - records[seq].created_at
        return results, after, int(behind * 1000)

    shard.get_min_sequence_number = get_min_sequence_number
    shard.get_max_sequence_number = get_max_sequence_number
    shard.get_records = get_records


def _quiet_requests():
    # A line per request on stderr costs a lock and a write per call: only with
    # S2E_MOTO_REQUEST_LOG=1. moto's errors are still written.
    import logging
    import os

    if os.environ.get("S2E_MOTO_REQUEST_LOG") != "1":
        logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _report_version():
    # The patches above are written against the moto that requirements.txt pins; the runner
    # reads which moto this Python actually has from here and says so when it differs.
    import os
    from importlib.metadata import version

    path = os.environ.get("S2E_MOTO_VERSION_FILE")
    if path:
        with open(path, "w") as f:
            f.write(version("moto"))


for _patch in (_report_version, _cache_jsonpath, _fast_sqs_clock, _cache_sqs_counts, _lock_sqs_writes, _cache_routing, _index_kinesis_shards, _quiet_requests):
    try:
        _patch()
    except Exception:  # a moto without the patched part: nothing to speed up, nothing to break
        pass
