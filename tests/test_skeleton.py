"""Skeleton facts derived from parent arrays equal the lists of method section 1."""
import pytest

from ddhpose.skeleton import H36M, MPI_INF_3DHP, MPI_INF_3DHP_TO_H36M, Skeleton


def test_h36m_chains_levels_children():
    assert H36M.chains == ((0, 1, 2, 3), (0, 4, 5, 6), (0, 7, 8, 9, 10), (0, 7, 8, 11, 12, 13), (0, 7, 8, 14, 15, 16))
    assert H36M.levels == (0, 1, 2, 3, 1, 2, 3, 1, 2, 3, 4, 3, 4, 5, 3, 4, 5)
    assert H36M.num_levels == 6 and H36M.children[8] == (9, 11, 14) and H36M.root == 0
    assert H36M.bone_slots == tuple(range(1, 17))


def test_3dhp_chains_and_levels_from_its_parent_array():
    assert MPI_INF_3DHP.chains == ((14, 8, 9, 10), (14, 11, 12, 13), (14, 15, 1, 0), (14, 15, 1, 2, 3, 4),
                                   (14, 15, 1, 5, 6, 7), (14, 15, 1, 16))
    assert MPI_INF_3DHP.num_levels == 6 and MPI_INF_3DHP.root == 14
    assert MPI_INF_3DHP.levels[14] == 0 and MPI_INF_3DHP.levels[4] == 5 and MPI_INF_3DHP.levels[16] == 3
    assert 14 not in MPI_INF_3DHP.bone_slots and len(MPI_INF_3DHP.bone_slots) == 16


def test_3dhp_to_h36m_order_maps_the_tree():
    # re-indexing 3DHP joints into H36M order gives the H36M tree, except that 3DHP hangs the
    # head top (H36M 10) from the neck (8) where H36M hangs it from the neck/nose (9)
    inverse = {src: dst for dst, src in enumerate(MPI_INF_3DHP_TO_H36M)}
    parents = [-1 if MPI_INF_3DHP.parents[src] < 0 else inverse[MPI_INF_3DHP.parents[src]]
               for src in MPI_INF_3DHP_TO_H36M]
    expected = list(H36M.parents)
    expected[10] = 8
    assert parents == expected


def test_flip_permutation_is_an_involution():
    for sk in (H36M, MPI_INF_3DHP):
        perm = sk.flip_permutation
        assert all(perm[perm[j]] == j for j in range(sk.num_joints))


@pytest.mark.parametrize("parents, match", [((0, 0), "exactly one root"), ((-1, -1), "exactly one root"),
                                            ((-1, 2, 1), "cycle"), ((-1, 5), "parents must index")])
def test_bad_parent_arrays(parents, match):
    with pytest.raises(ValueError, match=match):
        Skeleton(parents, (), ())


def test_joints_by_name():
    from ddhpose.skeleton import H36M
    assert H36M.index("left_ankle") == H36M.names.index("left_ankle")
    assert H36M.joints(("thorax", "right_hip"), "a test") == {"thorax": H36M.names.index("thorax"),
                                                             "right_hip": H36M.names.index("right_hip")}
    with pytest.raises(ValueError, match=r"skeleton 'h36m': a test needs joints named \['toe'\]; missing \['toe'\]"):
        H36M.joints(("toe",), "a test")
