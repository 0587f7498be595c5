"""Genotypes: DARTS' derivation rule on hand-made weights, JSON round-trip, validation."""

import json

import pytest

from slimnas.bnas.genotype import (
    PRIMITIVES,
    Genotype,
    derive_cell,
    derive_genotype,
    dumps,
    num_edges,
    read_genotype,
    write_genotype,
)
from slimnas.errors import SlimnasError

OP = {name: k for k, name in enumerate(PRIMITIVES)}


def probs(strong: dict[str, float], rest: float = 0.01) -> list[float]:
    row = [rest] * len(PRIMITIVES)
    for name, w in strong.items():
        row[OP[name]] = w
    return row


def test_edge_count():
    assert [num_edges(n) for n in (1, 2, 3, 4)] == [2, 5, 9, 14]


def test_derive_cell_on_hand_made_weights():
    # 2 nodes: node 2 has edges from 0, 1; node 3 from 0, 1, 2 (5 edges)
    weights = [
        probs({"none": 0.9, "sep_conv_3x3": 0.05}),  # 0 -> 2: none is ignored, strength 0.05
        probs({"max_pool_3x3": 0.3, "dil_conv_3x3": 0.2}),  # 1 -> 2: 0.3 max_pool
        probs({"skip_connect": 0.4}),  # 0 -> 3
        probs({"sep_conv_5x5": 0.2, "none": 0.7}),  # 1 -> 3: weakest
        probs({"dil_conv_5x5": 0.6}),  # 2 -> 3: strongest
    ]
    gene = derive_cell(weights, nodes=2)
    # ordered by strength, each with its best non-none op
    assert gene == (("max_pool_3x3", 1), ("sep_conv_3x3", 0),
                    ("dil_conv_5x5", 2), ("skip_connect", 0))


def test_edge_weights_change_the_ranking_not_the_op():
    weights = [probs({"sep_conv_3x3": 0.5}), probs({"avg_pool_3x3": 0.4}),
               probs({"skip_connect": 0.3}), probs({"dil_conv_3x3": 0.2}),
               probs({"sep_conv_5x5": 0.1})]
    plain = derive_cell(weights, nodes=2)
    assert plain[2:] == (("skip_connect", 0), ("dil_conv_3x3", 1))
    # softmax(beta) of node 3 strongly prefers its edge from node 2
    edges = [0.5, 0.5, 0.1, 0.1, 0.8]
    ranked = derive_cell(weights, nodes=2, edge_weights=edges)
    assert ranked[:2] == plain[:2]  # equal edge weights: same order
    assert ranked[2:] == (("sep_conv_5x5", 2), ("skip_connect", 0))


def test_ties_go_to_the_lower_input_and_earlier_op():
    flat = [[1.0 / len(PRIMITIVES)] * len(PRIMITIVES)] * num_edges(2)
    gene = derive_cell(flat, nodes=2)
    assert gene == (("max_pool_3x3", 0), ("max_pool_3x3", 1),
                    ("max_pool_3x3", 0), ("max_pool_3x3", 1))


def test_derive_genotype_uses_both_cells_and_concat_all_nodes():
    normal = [probs({"sep_conv_3x3": 0.5})] * num_edges(4)
    reduce = [probs({"avg_pool_3x3": 0.5})] * num_edges(4)
    g = derive_genotype({"normal": normal, "reduce": reduce}, nodes=4)
    assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)
    assert {op for op, _ in g.normal} == {"sep_conv_3x3"}
    assert {op for op, _ in g.reduce} == {"avg_pool_3x3"}
    assert g.parameter_free_share() == 0.5
    assert len(g.normal) == 8 and g.nodes == 4


def test_json_round_trip(tmp_path, paper_genotype_json):
    g = Genotype.from_json(paper_genotype_json)
    assert g.to_json() == paper_genotype_json
    assert list(g.to_json()) == ["normal", "normal_concat", "reduce", "reduce_concat"]
    assert Genotype.from_json(json.loads(dumps(g))) == g
    write_genotype(g, tmp_path / "genotype.json")
    assert json.loads((tmp_path / "genotype.json").read_text()) == paper_genotype_json
    assert read_genotype(tmp_path / "genotype.json") == g
    assert read_genotype(tmp_path) == g  # a directory holding genotype.json
    assert g.parameter_free_share() == 5 / 16


@pytest.mark.parametrize("change, needle", [
    (lambda d: d["normal"].__setitem__(0, ["conv_7x7", 1]), "unknown op"),
    (lambda d: d["normal"].__setitem__(0, ["none", 1]), "unknown op"),
    (lambda d: d["normal"].__setitem__(0, ["sep_conv_3x3", 2]), "inputs 0..1"),
    (lambda d: d["reduce"].__setitem__(7, ["sep_conv_3x3", 6]), "inputs 0..4"),
    (lambda d: d["normal"].pop(), "two per node"),
    (lambda d: d.pop("reduce_concat"), "missing genotype field 'reduce_concat'"),
    (lambda d: d.__setitem__("extra", 1), "unknown genotype field 'extra'"),
    (lambda d: d.__setitem__("normal_concat", [2, 3, 6]), "normal_concat"),
    (lambda d: d["reduce"].__setitem__(1, "skip_connect"), "[op name, input node]"),
])
def test_bad_genotype_json_is_one_clear_error(paper_genotype_json, change, needle):
    change(paper_genotype_json)
    with pytest.raises(SlimnasError) as e:
        Genotype.from_json(paper_genotype_json)
    assert needle in str(e.value)


def test_network_genotype_from_set_alphas():
    import torch

    from slimnas.bnas.search_net import SearchNetwork, SearchSpec

    torch.manual_seed(0)
    net = SearchNetwork(SearchSpec(net="darts", channels=4, nodes=2, cells=2))
    with torch.no_grad():
        for which, op in (("normal", "sep_conv_5x5"), ("reduce", "max_pool_3x3")):
            a = net.alphas[which]
            a.zero_()
            a[:, OP["none"]] = 5.0  # never chosen
            a[:, OP[op]] = 1.0
            a[4, OP[op]] = 2.0  # node 3's edge from node 2 is the strongest
    g = net.genotype()
    assert g.normal == (("sep_conv_5x5", 0), ("sep_conv_5x5", 1),
                        ("sep_conv_5x5", 2), ("sep_conv_5x5", 0))
    assert {op for op, _ in g.reduce} == {"max_pool_3x3"}
