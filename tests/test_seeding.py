"""Derived seeds: the tags' values and the derivation are part of every run's random draws."""
from __future__ import annotations

from ddhpose.seeding import SeedTag, derive_seed


def test_seed_tags_keep_their_values():
    # renumbering a tag would change the draws of every run (and break exact resume across versions)
    assert {t.name: int(t) for t in SeedTag} == {"INIT": 0, "ORDER": 1, "DIFFUSION": 2, "DEPTH": 3, "EVAL": 4,
                                                 "SYNTHETIC": 5, "MOCAP": 6, "LENS": 7}


def test_derive_seed_is_fixed_and_a_tag_counts_as_its_integer():
    assert derive_seed(0, SeedTag.ORDER, 3) == derive_seed(0, 1, 3) == 5276725955892761082
    assert derive_seed(5, SeedTag.DIFFUSION, 1, 7, 3) == 1142675819558305607
    assert len({derive_seed(0, t) for t in SeedTag}) == len(SeedTag)
    assert 0 <= derive_seed(2**40, SeedTag.MOCAP, 2) < 2**63
