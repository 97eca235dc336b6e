"""The transition graph against Pacemaker's recorded graphs (the corpus's exp/ files): the
scenarios listed in data/graph_exact.txt must keep matching, strictly or without clone instance
numbers (relaxed), at the level listed."""
from __future__ import annotations

import importlib.util
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "conformance"
PINNED = Path(__file__).parent / "data" / "graph_exact.txt"


def _graph_score():
    spec = importlib.util.spec_from_file_location("graph_score", ROOT / "scripts" / "graph_score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("graph-corpus")
    for name in ("corpus.tar.xz", "exp.tar.xz"):
        with tarfile.open(DATA / name) as tar:
            tar.extractall(dest, filter="data")
    return dest


def pinned() -> list[tuple[str, str]]:
    out = []
    for lineno, line in enumerate(PINNED.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, level = line.split()
        assert level in ("strict", "relaxed"), f"{PINNED}:{lineno}: level must be strict or relaxed, got {level!r}"
        out.append((name, level))
    return out


def test_pinned_scenarios_keep_their_graph(corpus: Path) -> None:
    gs = _graph_score()
    differ = []
    for name, level in pinned():
        ours = gs.corral_side(corpus / "xml" / f"{name}.xml")
        theirs = gs.pacemaker_side(corpus / "exp" / f"{name}.exp")
        if level == "relaxed":
            same = (gs.relax(ours.actions) == gs.relax(theirs.actions)
                    and gs.relax_edges(ours.edges) == gs.relax_edges(theirs.edges))
        else:
            same = ours.actions == theirs.actions and ours.edges == theirs.edges
        if not same:
            extra = sorted(ours.actions - theirs.actions) + sorted(ours.edges - theirs.edges)
            missing = sorted(theirs.actions - ours.actions) + sorted(theirs.edges - ours.edges)
            differ.append(f"{name} ({level}): extra {extra[:3]} missing {missing[:3]}")
    assert not differ, f"{len(differ)} scenario(s) no longer match Pacemaker's graph:\n" + "\n".join(differ)


def test_the_comparison_notices_a_missing_edge(corpus: Path) -> None:
    gs = _graph_score()
    theirs = gs.pacemaker_side(corpus / "exp" / "notify-3.exp")
    assert theirs.edges and any(k.endswith("_notify_start_0") for k, _ in theirs.actions)
    ours = gs.corral_side(corpus / "xml" / "notify-3.xml")
    assert ours.actions == theirs.actions and ours.edges == theirs.edges
    edge = next(iter(theirs.edges))
    damaged = gs.Side(actions=set(ours.actions), edges=set(ours.edges) - {edge})
    counts = gs.compare(damaged, theirs)
    assert counts.n[3] == len(theirs.edges) - 1  # one edge fewer matched


def test_every_corpus_graph_is_acyclic(corpus: Path) -> None:
    """An executor fires an action once its inputs are done: a cycle would never finish."""
    from corral.cli.simulate import load_inputs
    from corral.scheduler import schedule

    cyclic = []
    for xml in sorted((corpus / "xml").glob("*.xml")):
        try:
            cfg, st = load_inputs(str(xml), None, None)
        except Exception:  # rejected configurations have no graph
            continue
        g = schedule(cfg, st).graph
        inputs = g.inputs()
        done: set[int] = set()
        ready = [a for a, ins in inputs.items() if not ins]
        remaining = {a: set(ins) for a, ins in inputs.items()}
        while ready:
            a = ready.pop()
            done.add(a)
            for b, ins in remaining.items():
                if a in ins:
                    ins.discard(a)
                    if not ins and b not in done and b not in ready:
                        ready.append(b)
        if len(done) != len(g.actions):
            stuck = sorted(g.by_id()[a].key for a in inputs if a not in done)[:4]
            cyclic.append(f"{xml.stem}: {stuck}")
    assert not cyclic, "graphs with a cycle:\n" + "\n".join(cyclic)
