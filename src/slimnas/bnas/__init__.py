"""Broad, differentiable cell search: BNAS-D, BNAS-v2 (CLR, partial channels + edge
normalisation) and DARTS, plus the evaluation networks of the genotypes they derive.

Imports torch lazily: `from slimnas.bnas import Genotype` needs none.
"""

from slimnas.bnas.genotype import Genotype, derive_cell, derive_genotype, read_genotype

__all__ = ["Genotype", "derive_cell", "derive_genotype", "read_genotype"]
