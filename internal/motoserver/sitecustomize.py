# Loaded by the Python that runs moto_server (the local runner puts this file's folder first on
# PYTHONPATH). It changes no behaviour, only speed: moto's EventBridge parses the same eight
# JSONPath expressions for every event it delivers to a target, and jsonpath_ng builds a new
# LALR parser for each parse, about 30 ms apiece. 120 ms an event made PutEvents the slowest call
# of the local flow; with the parsed expressions cached it takes about 1 ms an event. Parsed
# expressions are immutable, so sharing them is safe.
import functools

try:
    import jsonpath_ng.ext as _jsonpath_ext
except ImportError:  # a moto without EventBridge's dependencies: nothing to speed up
    pass
else:
    _jsonpath_ext.parse = functools.lru_cache(maxsize=1024)(_jsonpath_ext.parse)
