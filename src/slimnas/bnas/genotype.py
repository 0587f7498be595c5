"""Genotypes: the discrete cells a search derives, their JSON form, and the derivation.

JSON form (DARTS' field names; in a BCNN `normal` = convolution cells, `reduce` =
enhancement cells), two [op, input node] pairs per intermediate node, nodes 0 and 1 being
the cell's inputs:

    {"normal": [["sep_conv_3x3", 1], ...], "normal_concat": [2, 3, 4, 5],
     "reduce": [["dil_conv_3x3", 0], ...], "reduce_concat": [2, 3, 4, 5]}

No torch needed here: derivation takes plain nested lists of weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from slimnas.errors import SlimnasError
from slimnas.io import atomic_write_json, read_json

PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
PARAMETER_FREE = frozenset({"max_pool_3x3", "avg_pool_3x3", "skip_connect"})
CELLS = ("normal", "reduce")
FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
Gene = tuple[tuple[str, int], ...]


def num_edges(nodes: int) -> int:
    """Edges of a cell with `nodes` intermediate nodes: node i has i + 2 inputs."""
    return sum(i + 2 for i in range(nodes))


@dataclass(frozen=True)
class Genotype:
    normal: Gene
    normal_concat: tuple[int, ...]
    reduce: Gene
    reduce_concat: tuple[int, ...]

    @property
    def nodes(self) -> int:
        return len(self.normal) // 2

    def cell(self, which: str) -> tuple[Gene, tuple[int, ...]]:
        return getattr(self, which), getattr(self, f"{which}_concat")

    def to_json(self) -> dict:
        return {
            "normal": [[op, j] for op, j in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [[op, j] for op, j in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_json(cls, obj: object, where: str = "genotype") -> Genotype:
        if not isinstance(obj, dict):
            raise SlimnasError(f"{where}: a genotype is a JSON object with {', '.join(FIELDS)}")
        unknown = sorted(set(obj) - set(FIELDS))
        if unknown:
            raise SlimnasError(f"{where}: unknown genotype field {unknown[0]!r}")
        missing = [k for k in FIELDS if k not in obj]
        if missing:
            raise SlimnasError(f"{where}: missing genotype field {missing[0]!r}")
        genes = {c: _parse_gene(obj[c], f"{where}: {c!r}") for c in CELLS}
        if len(genes["normal"]) != len(genes["reduce"]):
            raise SlimnasError(f"{where}: 'normal' and 'reduce' have different node counts")
        nodes = len(genes["normal"]) // 2
        concats = {c: _parse_concat(obj[f"{c}_concat"], nodes, f"{where}: '{c}_concat'")
                   for c in CELLS}
        return cls(genes["normal"], concats["normal"], genes["reduce"], concats["reduce"])

    def parameter_free_share(self) -> float:
        """Fraction of the chosen ops (both cells) that have no weights: skip and pooling."""
        ops = [op for op, _ in self.normal + self.reduce]
        return sum(op in PARAMETER_FREE for op in ops) / len(ops)


def _parse_gene(raw: object, where: str) -> Gene:
    if not isinstance(raw, list) or not raw or len(raw) % 2:
        raise SlimnasError(f"{where} must be a non-empty list of [op, input] pairs, two per node")
    gene = []
    for k, pair in enumerate(raw):
        node = k // 2 + 2
        if (not isinstance(pair, list | tuple) or len(pair) != 2 or not isinstance(pair[0], str)
                or isinstance(pair[1], bool) or not isinstance(pair[1], int)):
            raise SlimnasError(f"{where}[{k}] must be [op name, input node], got {pair!r}")
        op, j = pair
        if op not in PRIMITIVES or op == "none":
            known = ", ".join(p for p in PRIMITIVES if p != "none")
            raise SlimnasError(f"{where}[{k}]: unknown op {op!r}; known: {known}")
        if not 0 <= j < node:
            raise SlimnasError(f"{where}[{k}]: node {node} can take inputs 0..{node - 1}, "
                               f"not {j}")
        gene.append((op, j))
    return tuple(gene)


def _parse_concat(raw: object, nodes: int, where: str) -> tuple[int, ...]:
    ok = (isinstance(raw, list) and raw and len(set(raw)) == len(raw)
          and all(isinstance(v, int) and not isinstance(v, bool) for v in raw))
    if not ok or not all(2 <= v < nodes + 2 for v in raw):
        raise SlimnasError(f"{where} must list distinct nodes in 2..{nodes + 1}, got {raw!r}")
    return tuple(raw)


def derive_cell(weights: Sequence[Sequence[float]], nodes: int,
                edge_weights: Sequence[float] | None = None,
                primitives: Sequence[str] = PRIMITIVES) -> Gene:
    """DARTS' rule: per node, the two incoming edges whose strongest non-none op weighs most,
    each with that op. `weights` are per-edge op probabilities (softmax(alpha)); with edge
    normalisation the edge's softmax(beta) weight multiplies them. Ties go to the lower
    input / earlier primitive."""
    if len(weights) != num_edges(nodes):
        raise ValueError(f"{len(weights)} edges, a {nodes}-node cell has {num_edges(nodes)}")
    ops = [k for k, p in enumerate(primitives) if p != "none"]
    gene: list[tuple[str, int]] = []
    start = 0
    for i in range(nodes):
        n = i + 2
        rows = [list(weights[start + j]) for j in range(n)]
        if edge_weights is not None:
            rows = [[w * edge_weights[start + j] for w in row] for j, row in enumerate(rows)]
        best = [max(ops, key=lambda k, r=row: (r[k], -k)) for row in rows]
        strongest = sorted(range(n), key=lambda j: (-rows[j][best[j]], j))[:2]
        gene += [(primitives[best[j]], j) for j in strongest]
        start += n
    return tuple(gene)


def derive_genotype(weights: dict[str, Sequence[Sequence[float]]], nodes: int,
                    edge_weights: dict[str, Sequence[float]] | None = None) -> Genotype:
    """A genotype from {"normal": probs, "reduce": probs} (+ the same for edge weights)."""
    concat = tuple(range(2, nodes + 2))
    genes = {c: derive_cell(weights[c], nodes, None if edge_weights is None
                            else edge_weights[c]) for c in CELLS}
    return Genotype(genes["normal"], concat, genes["reduce"], concat)


def write_genotype(genotype: Genotype, path: str | os.PathLike) -> None:
    atomic_write_json(path, genotype.to_json())


def read_genotype(path: str | os.PathLike) -> Genotype:
    """A genotype JSON file; a run directory or export directory holding genotype.json too."""
    path = Path(path)
    if path.is_dir():
        path = path / "genotype.json"
    return Genotype.from_json(read_json(path), where=str(path))


def dumps(genotype: Genotype) -> str:
    """The stable one-line JSON text (field order fixed)."""
    return json.dumps(genotype.to_json())
