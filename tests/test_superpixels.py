"""Images by superpixel: segmentations, masking of absent segments, a task whose class
depends on one known region, and lime's image views (checked against lime itself)."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import xaicore

skimage_data = pytest.importorskip("skimage.data")
segmentation = pytest.importorskip("skimage.segmentation")

S = 32   # image side


def _photos(n: int = 3) -> np.ndarray:
    """Real photographs shipped with scikit-image, cut to S x S, in [0, 1]."""
    imgs = [skimage_data.astronaut(), skimage_data.chelsea(), skimage_data.coffee()]
    out = [im[::8, ::8][:S, :S] / 255.0 for im in imgs][:n]
    return np.stack(out).astype("float32")


def _quadrant(x):
    """Output 0: brightness of the top-left quadrant (squashed); 1: of the bottom half."""
    tl = x[:, :S // 2, :S // 2].mean(axis=(1, 2, 3))
    bottom = x[:, S // 2:].mean(axis=(1, 2, 3))
    return jnp.stack([jnp.tanh(3 * tl), bottom], axis=1)


FN = xaicore.from_jax(_quadrant, input_shape=(S, S, 3))


@pytest.mark.parametrize("method, kw", [("quickshift", {}), ("slic", {"n_segments": 30}),
                                        ("felzenszwalb", {"scale": 50}), ("grid", {})])
def test_superpixels_label_maps(method, kw):
    X = _photos()
    segs = xaicore.superpixels(X, method, **kw)
    assert segs.shape == (3, S, S) and segs.dtype == np.int32
    for s in segs:
        assert np.array_equal(np.unique(s), np.arange(s.max() + 1))   # 0..M_i-1, each used
    np.testing.assert_array_equal(segs, xaicore.superpixels(X, method, **kw))  # seeded


def test_quickshift_is_limes_segmentation():
    X = _photos(1)
    ours = xaicore.superpixels(X, "quickshift", seed=3)[0]
    theirs = segmentation.quickshift(X[0].astype(np.float64), kernel_size=4, max_dist=200,
                                     ratio=0.2, rng=3)
    np.testing.assert_array_equal(ours, np.unique(theirs, return_inverse=True)[1]
                                  .reshape(S, S))


def test_grid_needs_no_scikit_image():
    g = xaicore.superpixels(np.zeros((2, 8, 8)), "grid", patch=4)
    np.testing.assert_array_equal(g[0], xaicore.patch_groups((8, 8), 4))


@pytest.mark.parametrize("images, method, match", [
    (np.zeros((2, 8, 8, 2)), "slic", r"^images: expected 1 or 3 channels .* got 2 channels"),
    (np.zeros((8, 8)), "grid", r"^images: expected numeric images \[n, H, W, C\]"),
    (np.zeros((1, 8, 8, 3)), "watershed", r"^method: expected one of"),
])
def test_superpixels_bad_input(images, method, match):
    with pytest.raises(xaicore.InputError, match=match):
        xaicore.superpixels(images, method)


@pytest.mark.parametrize("cls, kw", [(xaicore.KernelShap, {"n_samples": 300}),
                                     (xaicore.PermutationShap, {"n_permutations": 8}),
                                     (xaicore.Lime, {"n_samples": 300})])
def test_segments_of_the_region_rank_first(cls, kw):
    X = _photos()
    segs = xaicore.superpixels(X, "slic", n_segments=25)
    att = cls(FN, 0.0, groups="per_call", **kw).explain(X, groups=segs, target=0)
    for i in range(len(X)):
        m = segs[i].max() + 1
        share = np.bincount(segs[i, :S // 2, :S // 2].ravel(), minlength=m) \
            / np.bincount(segs[i].ravel(), minlength=m)
        inside = np.flatnonzero(share >= 0.1)       # segments with a tenth in the region
        outside = np.flatnonzero(share == 0)
        top = np.argsort(-att.values[i, :m])[:inside.size]
        assert set(top) == set(inside.tolist()), (i, top, inside)   # they rank first
        assert att.values[i, inside].min() > att.values[i, outside].max()
        assert np.all(np.abs(att.values[i, outside]) < 0.2 * att.values[i, inside].max())


def test_masking_modes_replace_absent_segments():
    X = _photos(2)
    segs = xaicore.superpixels(X, "grid", patch=8)
    one = np.zeros((2, S, S), int)          # one player holding the whole image
    for bg in ("mean", "segment_mean", "blur", 0.5):
        att = xaicore.ExactShap(FN, bg, groups="per_call").explain(X, groups=one)
        from xaicore.engine._masking import masking_of, replacement_rows
        rows = replacement_rows(masking_of(bg), X, np.broadcast_to(
            one[..., None], X.shape).reshape(2, -1))
        np.testing.assert_allclose(att.base_values, np.asarray(_quadrant(rows)), atol=1e-6)
    # lime's hide_color=None: every segment takes its own mean colour
    from xaicore.engine._masking import Masking, replacement_rows
    rows = replacement_rows(Masking("segment_mean"), X,
                            np.repeat(segs[..., None], 3, 3).reshape(2, -1))
    for f in np.unique(segs[1]):
        np.testing.assert_allclose(rows[1][segs[1] == f], np.broadcast_to(
            X[1][segs[1] == f].mean(axis=0), rows[1][segs[1] == f].shape), atol=1e-6)
    np.testing.assert_allclose(rows.mean(axis=(1, 2)), X.mean(axis=(1, 2)), atol=1e-5)


def _lime_explanation(att, row, label):
    lime_image = pytest.importorskip("lime.lime_image")
    exp = lime_image.ImageExplanation(att.data[row].copy(), att.groups[row])
    w = att.values[row] if att.values.ndim == 2 else att.values[row, :, label]
    exp.local_exp[label] = sorted(enumerate(w.tolist()), key=lambda t: abs(t[1]),
                                  reverse=True)
    return exp


@pytest.mark.parametrize("flags", [
    {}, {"hide_rest": True}, {"positive_only": False, "negative_only": True},
    {"positive_only": False, "num_features": 7, "min_weight": 0.001},
    {"positive_only": True, "num_features": 3, "hide_rest": True, "min_weight": 0.01}])
def test_image_and_mask_equals_lime(flags):
    X = _photos()
    segs = xaicore.superpixels(X, "quickshift")
    att = xaicore.Lime(FN, "segment_mean", groups="per_call", n_samples=200
                       ).explain(X, groups=segs)          # every output: label picks one
    for row, label in ((0, 0), (2, 1)):
        want = _lime_explanation(att, row, label).get_image_and_mask(label, **flags)
        got = att.image_and_mask(row, label=label, **flags)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)


def test_image_views_bad_input():
    X = _photos(1)
    att = xaicore.KernelShap(FN, X * 0, n_samples=50, groups=xaicore.patch_groups(
        (S, S, 3), 8)).explain(X)
    with pytest.raises(xaicore.InputError, match=r"^label: expected an output index 0..1"):
        att.image_and_mask(0)
    plain = xaicore.Saliency(FN).explain(X, target=0)
    with pytest.raises(xaicore.InputError, match=r"^groups: this Attribution holds no"):
        plain.image_and_mask(0)


def test_to_shap_paints_segments_and_plots_render(tmp_path):
    shap = pytest.importorskip("shap")
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X = _photos()
    segs = xaicore.superpixels(X, "slic", n_segments=25)
    att = xaicore.KernelShap(FN, "blur", groups="per_call", n_samples=200).explain(
        X, groups=segs, target="predicted")
    exp = att.to_shap()
    assert exp.values.shape == X.shape and exp.data.shape == X.shape
    np.testing.assert_allclose(exp.values.sum(axis=(1, 2, 3)), att.values.sum(axis=1),
                               rtol=1e-6, atol=1e-9)
    shap.plots.image(exp[:2], show=False)
    plt.savefig(tmp_path / "shap_image.png")
    plt.close("all")
    ax = att.plot_image(1, boundaries=True)
    assert any(im.get_gid() == "boundaries" for im in ax.get_images())
    ax.figure.savefig(tmp_path / "plot_image_boundaries.png")
    plt.close("all")
    img, mask = att.image_and_mask(1, num_features=4, hide_rest=False)
    fig, ax = plt.subplots()
    ax.imshow(segmentation.mark_boundaries(img, mask))
    fig.savefig(tmp_path / "image_and_mask.png")
    plt.close("all")
    out = pytest.importorskip("os").environ.get("XAICORE_PNG_DIR")
    if out:   # keep the pictures for a look
        import shutil
        for p in tmp_path.glob("*.png"):
            shutil.copy(p, out)


def test_attribution_file_keeps_groups(tmp_path):
    X = _photos(2)
    segs = xaicore.superpixels(X, "grid", patch=8)
    att = xaicore.PermutationShap(FN, 0.0, groups="per_call", n_permutations=4).explain(
        X, groups=segs)
    back = xaicore.Attribution.load(att.save(tmp_path / "a.npz"))
    np.testing.assert_array_equal(back.groups, segs)
