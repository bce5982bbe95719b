"""The synapse dots' budget (issue 11, "300 neurons"): stable ranks, the drawn fraction, the notice."""

import itertools
import math

import numpy as np
import pytest

from napari_crant.scene.dot_budget import (
    LEVEL_STEP,
    SOFTWARE_DOT_LIMIT,
    DotBudget,
    count_in_rect,
    dot_ranks,
    is_software_renderer,
    level_fraction,
)


def _positions(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(0, 3e5, size=(n, 3)) / 8.0) * 8.0  # nm on an 8 nm grid, as synapses


def test_ranks_are_fixed_per_dot_whatever_the_order():
    pos = _positions(5_000)
    ranks = dot_ranks(pos)
    order = np.random.default_rng(1).permutation(len(pos))
    assert np.array_equal(dot_ranks(pos[order]), ranks[order])
    assert np.array_equal(dot_ranks(pos.copy()), ranks)
    assert ranks.dtype == np.float64 and ranks.min() >= 0.0 and ranks.max() < 1.0
    assert len(np.unique(ranks)) == len(np.unique(pos, axis=0))


def test_ranks_are_spread_evenly_even_on_a_regular_grid():
    grid = np.stack(np.meshgrid(np.arange(40), np.arange(40), np.arange(40), indexing="ij"), -1)
    ranks = dot_ranks(grid.reshape(-1, 3) * 1000.0)  # 64,000 dots, 1 um apart
    counts = np.histogram(ranks, bins=16, range=(0, 1))[0]
    expected = len(ranks) / 16
    assert np.all(np.abs(counts - expected) < 5 * math.sqrt(expected))
    # a kept subsample is spread over space, not one corner: every 10 um block keeps some
    kept = grid.reshape(-1, 3)[ranks < 0.05]
    blocks = {tuple(b) for b in (kept // 10)}
    assert len(blocks) == 64


@pytest.mark.parametrize("in_view", [1, 7_999, 8_000, 8_001, 11_313, 11_314, 167_000, 10**8])
def test_the_fraction_is_the_largest_step_within_the_limit(in_view):
    f = level_fraction(in_view, 8_000)
    if in_view <= 8_000:
        assert f == 1.0
    else:
        assert f * in_view <= 8_000 * (1 + 1e-9)
        assert f * LEVEL_STEP * in_view > 8_000  # one step more would pass the limit
        steps = math.log(1 / f, LEVEL_STEP)
        assert abs(steps - round(steps)) < 1e-9
    assert level_fraction(in_view, None) == 1.0


def test_masks_are_nested_and_near_their_fraction():
    ranks = dot_ranks(_positions(40_000, seed=3))
    budget = DotBudget(limit=5_000)
    masks = []
    for in_view in (40_000, 20_000, 10_000, 5_000):
        budget.update(in_view)
        mask = budget.mask(ranks)
        if budget.fraction == 1.0:
            assert mask is None
            continue
        drawn = int(mask.sum())
        expected = budget.fraction * len(ranks)
        assert abs(drawn - expected) < 4 * math.sqrt(expected)
        masks.append(mask)
    for smaller, larger in itertools.pairwise(masks):  # zooming in only adds dots
        assert not np.any(smaller & ~larger)


def test_changed_only_when_the_fraction_moves_and_the_notice_says_so():
    budget = DotBudget(limit=8_000)
    seen = []
    budget.changed.connect(lambda: seen.append(budget.fraction))
    assert not budget.update(5_000) and budget.notice() == "" and seen == []
    assert budget.update(167_000)
    assert budget.fraction < 1 and len(seen) == 1
    assert not budget.update(166_000)  # the same step: nothing re-sent
    text = budget.notice()
    assert "1 in 23" in text and "166,000" in text and "Zoom in" in text
    budget.set_limit(None)
    assert budget.fraction == 1.0 and budget.notice() == "" and len(seen) == 2
    budget.set_limit(SOFTWARE_DOT_LIMIT, "software OpenGL: llvmpipe")
    assert "software OpenGL: llvmpipe" in budget.notice()


def test_the_notice_fits_a_narrow_canvas_and_its_glyphs_are_known():
    """The canvas's text overlay is anchored at its bottom right: a line wider than the canvas
    was cut at the left. Two short lines fit a canvas of ~450 px at the notice's 9 pt."""
    budget = DotBudget(limit=8_000)
    budget.set_limit(SOFTWARE_DOT_LIMIT, "software OpenGL: llvmpipe")
    budget.update(1_234_567)
    text = budget.notice()
    assert all(len(line) <= 60 for line in text.split("\n")), text
    assert "1,234,567 in view" in text and "Zoom in for all" in text
    assert set(text) - {"\n"} <= set(budget.notice_characters())


def test_dots_far_from_the_view_are_drawn_at_the_overview_fraction():
    ranks = dot_ranks(_positions(20_000, seed=5))
    near = np.zeros(len(ranks), dtype=bool)
    near[:1_000] = True
    budget = DotBudget(limit=2_000)
    assert budget.update(1_000, 20_000)
    assert budget.fraction == 1.0 and budget.outside == level_fraction(20_000, 2_000)
    mask = budget.mask(ranks, near)
    assert mask[near].all()  # around the view: every dot (they fit the limit)
    assert np.array_equal(mask[~near], ranks[~near] < budget.outside)
    assert mask.sum() <= 1_000 + 2_000 * 1.1
    assert budget.mask(ranks) is None  # no region: as if every dot were around the view
    assert not budget.update(1_000, 20_000)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8000"])
def test_a_bad_limit_is_named(bad):
    with pytest.raises(ValueError, match="synapse dot limit"):
        DotBudget(limit=bad)


@pytest.mark.parametrize(("renderer", "software"), [
    ("llvmpipe (LLVM 15.0.6, 256 bits)", True),
    ("softpipe", True),
    ("Google SwiftShader", True),
    ("Mesa Intel(R) UHD Graphics 620 (KBL GT2)", False),
    ("NVIDIA GeForce RTX 3080/PCIe/SSE2", False),
    ("Apple M1", False),
    ("", False),
])
def test_software_renderers_are_recognised(renderer, software):
    assert is_software_renderer(renderer) is software


def test_count_in_rect():
    pos = np.array([[0, 0, 0], [0, 5, 5], [9, 10, 10], [0, 11, 3]], dtype=float)
    assert count_in_rect(pos, (0, 0), (10, 10), (1, 2)) == 3
    assert count_in_rect(pos, (4, 4), (6, 6), (1, 2)) == 1
    assert count_in_rect(np.zeros((0, 3)), (0, 0), (1, 1), (1, 2)) == 0
