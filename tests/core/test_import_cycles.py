"""The import graph of ``aihub`` has no cycle of more than three modules, counting imports inside functions.

A cycle hidden behind lazy imports is still a cycle: a maintainer cannot read
one module of it without the others. grimp (import-linter's graph builder)
reads every import statement, at module level and inside functions.
"""

from __future__ import annotations

import grimp

#: Largest strongly connected set of modules allowed (a package ``__init__`` re-exporting two of its modules).
MAX_CYCLE = 3


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's strongly connected components (Tarjan 1972), iterative, of the module graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[set[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.add(member)
                    if member == node:
                        break
                out.append(comp)
    return out


def test_no_import_cycle_of_more_than_three_modules():
    graph = grimp.build_graph("aihub")
    too_big = sorted((sorted(c) for c in strongly_connected(graph) if len(c) > MAX_CYCLE), key=len, reverse=True)
    assert not too_big, f"import cycles of more than {MAX_CYCLE} modules: {too_big}"


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for m in ("p", "p.a", "p.b", "p.c", "p.d"):
        graph.add_module(m)
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")):
        graph.add_import(importer=a, imported=b)
    assert sorted(sorted(c) for c in strongly_connected(graph) if len(c) > 1) == [["p.a", "p.b", "p.c"]]
