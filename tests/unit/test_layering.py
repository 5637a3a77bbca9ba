"""The layering of the C code, measured on what was built (./test builds
first): no header includes itself through others, no group of source
files calls each other in a circle, and nothing calls up into the file
that registers the core (coi-plugin.c). The one circle allowed is
Pigeonhole's extension pattern: the extension lists its tests, the tests
name their extension."""

import collections
import glob
import os
import re
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PLUGIN = os.path.join(TOP, "plugin")
# where ./test built the objects: in the checkout, or for COI_DOVECOT=2.4
# in its copy of the sources
BUILT = os.path.join(TOP, ".build", "dovecot-2.4", "src", "plugin") \
    if os.environ.get("COI_DOVECOT") == "2.4" else PLUGIN
ALLOWED_CYCLES = [{"sieve-coi-tests", "sieve-coi-extension"}]
OUR_PREFIXES = ("coi_", "sieve_coi_", "imap_coi_", "doveadm_coi_")


def cycles(graph):
    """The strongly connected components of more than one node."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.add(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == \
        [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_header_include_cycle():
    graph = {}
    for path in glob.glob(os.path.join(PLUGIN, "*", "*.h")):
        with open(path) as f:
            graph[os.path.basename(path)] = set(
                re.findall(r'#include "([^"]+)"', f.read()))
    assert graph, "no headers found"
    assert cycles(graph) == []


def object_files():
    objs = {}
    for path in glob.glob(os.path.join(BUILT, "*", ".libs", "*.o")) + \
            glob.glob(os.path.join(BUILT, "service", "*.o")):
        name = os.path.basename(path)[:-2]
        source = os.path.join(os.path.dirname(os.path.dirname(path))
                              if "/.libs/" in path else
                              os.path.dirname(path), name + ".c")
        # left over from a file that no longer exists
        if not name.startswith("test-") and os.path.exists(source):
            objs[name] = path
    return objs


def test_no_call_cycle_and_nothing_calls_the_plugin_init():
    objs = object_files()
    if not objs:
        pytest.skip("nothing built (./test builds before it runs this)")
    defined, used = {}, collections.defaultdict(set)
    for name, path in objs.items():
        out = subprocess.run(["nm", path], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[1] in "TDRB" and \
                    fields[2].startswith(OUR_PREFIXES):
                defined[fields[2]] = name
            elif len(fields) == 2 and fields[0] == "U":
                used[name].add(fields[1])
    graph = {name: {defined[sym] for sym in syms
                    if sym in defined and defined[sym] != name}
             for name, syms in used.items()}
    assert "coi-plugin" in objs
    assert [name for name, calls in graph.items()
            if "coi-plugin" in calls] == []
    assert [c for c in cycles(graph) if c not in ALLOWED_CYCLES] == []
