# Loaded by the Python that runs moto_server: the local runner puts this file's folder first on
# PYTHONPATH. Three patches change how fast moto answers, not what it answers: each fixed a cost
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
    # Sending one message reads the queue's attributes six times, and each read counts the
    # visible, delayed and in-flight messages by scanning the whole queue: a send cost grows with
    # the queue, so a FIFO queue of a thousand messages took a second a SendMessageBatch and one of
    # ten thousand ten. The counts are approximate on AWS (and lag by up to a minute there); here
    # each is reused for 100 ms.
    import moto.sqs.models as sqs

    for name in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
    ):
        count = getattr(sqs.Queue, name).fget

        def cached(queue, name=name, count=count):
            now = time.monotonic()
            memo = queue.__dict__.setdefault("_s2e_counts", {})
            hit = memo.get(name)
            if hit is not None and now - hit[0] < ttl:
                return hit[1]
            value = count(queue)
            memo[name] = (now, value)
            return value

        setattr(sqs.Queue, name, property(cached))


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


for _patch in (_cache_jsonpath, _fast_sqs_clock, _cache_sqs_counts, _lock_sqs_writes):
    try:
        _patch()
    except Exception:  # a moto without the patched part: nothing to speed up, nothing to break
        pass
