"""Text by token: token players (padding excluded), the mask-id background, integrated
gradients through the embedding, token strings on the result, its HTML and plot views.

The model is hand-set so that one token decides: ``Embedding -> GlobalMaxPooling1D ->
Dense(softmax)`` where only token 7 has a large first embedding coordinate; the truth is
exact enumeration (``tests/shapley_truth.py``) and the completeness axiom.
"""
from __future__ import annotations

import re

import jax
import keras
import numpy as np
import pytest

import xaicore
from shapley_truth import brute_force_shapley

V, D, L = 50, 3, 10
PAD, MASK, GOOD = 0, 1, 7
VOCAB = ["<pad>", "<mask>"] + [f"w{i}" for i in range(2, V)]
VOCAB[GOOD] = "GOOD"


def _ids() -> np.ndarray:
    rng = np.random.default_rng(1)
    ids = rng.integers(2, V, (4, L))
    ids[ids == GOOD] = 8
    ids[0, 3] = ids[1, 8] = ids[2, 1] = ids[3, 5] = GOOD
    ids[2, 6:] = PAD                       # row 2: 6 tokens, then padding
    ids[3, :2] = PAD                       # row 3: padded in front
    return ids.astype("int32")


@pytest.fixture(scope="module")
def model() -> keras.Model:
    rng = np.random.default_rng(0)
    emb = rng.uniform(0, 0.3, (V, D)).astype("float32")
    emb[GOOD], emb[MASK], emb[PAD] = [1, 0, 0], 0, [0.25, 0, 0]
    w = np.array([[-10, 10], [-1, 1], [1, -1]], "float32")
    m = keras.Sequential([keras.Input((L,), dtype="int32", name="ids"),
                          keras.layers.Embedding(V, D, name="embedding"),
                          keras.layers.GlobalMaxPooling1D(),
                          keras.layers.Dense(2, activation="softmax")])
    m.layers[0].set_weights([emb])
    m.layers[2].set_weights([w, np.array([3, -3], "float32")])
    return m


@pytest.fixture(scope="module")
def smooth() -> keras.Model:
    """Average pooling and tanh: a smooth path, so completeness is tight."""
    init = keras.initializers.RandomUniform(-0.5, 0.5, seed=0)
    return keras.Sequential([keras.Input((L,), dtype="int32"),
                             keras.layers.Embedding(V, 4, embeddings_initializer=init),
                             keras.layers.GlobalAveragePooling1D(),
                             keras.layers.Dense(8, activation="tanh", kernel_initializer=init),
                             keras.layers.Dense(2, kernel_initializer=init)])


@pytest.fixture(scope="module")
def smooth_igs(smooth) -> dict:
    return {b: xaicore.TokenIntegratedGradients(smooth, baseline_id=b, n_steps=32)
            for b in (None, MASK)}


def _truth(model: keras.Model, ids: np.ndarray, keep: np.ndarray, t: int) -> np.ndarray:
    """Exact Shapley values per row by enumeration; absent tokens are the mask id, padding
    (``keep`` false) is the same in x and the background, so it is a null player."""
    fn = jax.jit(xaicore.export(model).apply_flat)
    params = xaicore.export(model).params
    f = lambda z: np.asarray(fn(params, np.rint(z).astype("int32")))
    out = [brute_force_shapley(f, ids[r:r + 1], np.where(keep[r], MASK, ids[r])[None])[0]
           for r in range(len(ids))]
    return np.stack(out)[..., t]


# -- token players and ids -----------------------------------------------------------------
def test_token_groups_mark_padding_and_masks():
    ids = np.array([[5, 9, 0, 0], [0, 3, 4, 0]])
    assert xaicore.token_groups(ids, pad_id=0).tolist() == [[0, 1, -1, -1], [-1, 1, 2, -1]]
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)
    assert xaicore.token_groups(ids, mask=mask).tolist() == [[0, 1, 2, -1], [0, 1, -1, -1]]
    with pytest.raises(xaicore.InputError, match=r"^mask: expected 2 rows of 4 booleans"):
        xaicore.token_groups(ids, mask=mask[:1])
    with pytest.raises(xaicore.InputError, match=r"^ids: expected integer token ids"):
        xaicore.token_groups(np.ones((2, 4)), pad_id=0)


def test_ids_outside_the_embedding_are_refused(model):
    ids = _ids()
    ids[2, 7] = 5003
    with pytest.raises(xaicore.InputError, match=r"^X: token id 5003 at row 2, position 7 "
                                                 r"is outside the embedding's range 0\.\.49$"):
        xaicore.ExactShap(model, np.full((1, L), MASK)).explain(ids)
    ids[2, 7] = -1
    with pytest.raises(xaicore.InputError, match=r"^X: token id -1 at row 2, position 7"):
        xaicore.TokenIntegratedGradients(model).explain(ids)
    with pytest.raises(xaicore.InputError, match=r"^background: token id 50 at row 0, "
                                                 r"position 0 is outside"):
        xaicore.KernelShap(model, np.full((1, L), V))
    with pytest.raises(xaicore.InputError, match=r"^baseline_id: token id 50 is outside"):
        xaicore.TokenIntegratedGradients(model, baseline_id=V)
    assert xaicore.export(model).inputs[0].id_range == V


def test_token_strings_are_checked(model):
    ig = xaicore.TokenIntegratedGradients(model, baseline_id=MASK)
    ids = _ids()
    short = [[VOCAB[i] for i in row] for row in ids]
    short[1] = short[1][:-1]
    with pytest.raises(xaicore.InputError, match=r"^tokens: expected 10 strings \(one per "
                                                 r"position\) in row 1, got 9 strings$"):
        ig.explain(ids, target=1, tokens=short)
    with pytest.raises(xaicore.InputError, match=r"^tokens: expected one list of 10 strings "
                                                 r"per row \(4 rows\), got 3 rows$"):
        ig.explain(ids, target=1, tokens=short[:3])
    with pytest.raises(xaicore.InputError, match=r"^vocab: has 20 entries \(ids 0\.\.19\); "
                                                 r"token id \d+ at row 0, position 0 has none"):
        ig.explain(ids, target=1, vocab=VOCAB[:20])
    with pytest.raises(xaicore.InputError, match=r"^tokens: give the token strings"):
        ig.explain(ids, target=1, tokens=short, vocab=VOCAB)


# -- the deciding token --------------------------------------------------------------------
def test_deciding_token_is_top_for_shapley_and_ig(model):
    ids = _ids()[:2]                                    # no padding
    bg = np.full((1, L), MASK)
    ex = xaicore.explain_text(xaicore.ExactShap(model, bg), ids, target=1, vocab=VOCAB)
    np.testing.assert_allclose(ex.values, _truth(model, ids, np.ones_like(ids, bool), 1),
                               atol=1e-5)
    ks = xaicore.explain_text(xaicore.KernelShap(model, bg, n_samples=256, seed=0), ids,
                              target=1, vocab=VOCAB)
    ig = xaicore.TokenIntegratedGradients(model, baseline_id=MASK).explain(ids, target=1)
    for att in (ex, ks, ig):
        assert att.values.shape == (2, L)
        assert att.values.argmax(axis=1).tolist() == [3, 8], att.method
        assert np.all(att.values[[0, 1], [3, 8]] > 0.5), att.method
    np.testing.assert_allclose(ks.values, ex.values, atol=0.02)
    assert ks.tokens[0, 3] == "GOOD" and ks.token_mask.all()


@pytest.fixture(scope="module")
def padded_truth(model) -> np.ndarray:
    return _truth(model, _ids(), _ids() != PAD, 1)


@pytest.mark.parametrize("background", ["mask_id", "rows"])
def test_padding_is_no_player_of_shapley_methods(model, padded_truth, background):
    ids = _ids()
    keep = ids != PAD
    bg = MASK if background == "mask_id" else np.full((2, L), MASK)
    truth = padded_truth
    ex = xaicore.explain_text(xaicore.ExactShap(model, bg), ids, target=1, pad_id=PAD,
                              vocab=VOCAB)
    np.testing.assert_allclose(ex.values, truth, atol=1e-5)
    assert np.all(ex.values[~keep] == 0) and ex.token_mask.tolist() == keep.tolist()
    assert ex.groups.tolist() == np.where(keep, np.arange(L), -1).tolist()
    ks = xaicore.KernelShap(model, bg, n_samples=256, seed=0)
    att = xaicore.explain_text(ks, ids, target=1, pad_id=PAD, vocab=VOCAB)
    assert np.all(att.values[~keep] == 0)
    assert att.values.argmax(axis=1).tolist() == [3, 8, 1, 5]
    assert att.stats["max_efficiency_gap"] < 1e-6      # sum = f(x) - f(x with tokens masked)
    np.testing.assert_allclose(att.values, truth, atol=0.02)
    xaicore.explain_text(ks, ids[2:3], target=1, pad_id=PAD)   # a call of 6 players
    plain = xaicore.explain_text(ks, ids, target=1)       # padding as tokens: it counts
    assert np.abs(plain.values[~keep]).max() > 1e-3


def test_explain_text_refuses_what_it_cannot_use(model):
    with pytest.raises(xaicore.InputError, match=r"^background: the mask id 50 is not a "
                                                 r"token id of the embedding's range 0\.\.49"):
        xaicore.explain_text(xaicore.ExactShap(model, V), _ids(), target=1)
    grouped = xaicore.ExactShap(model, MASK, groups=np.arange(L) // 2)
    with pytest.raises(xaicore.InputError, match=r"^explainer: was built with groups= "
                                                 r"\(5 players\)"):
        xaicore.explain_text(grouped, _ids(), target=1)
    with pytest.raises(xaicore.InputError, match=r"^explainer: expected a Shapley method"):
        xaicore.explain_text(xaicore.export(model), _ids())


def test_token_ig_completeness_and_baselines(smooth, smooth_igs):
    ids = _ids()
    for baseline_id, ig in smooth_igs.items():
        att = ig.explain(ids)                              # all outputs: [n, L, 2]
        assert att.values.shape == (4, L, 2)
        if baseline_id is None:   # zero embeddings: f(baseline) is the head on zeros
            head = smooth.layers[1:]
            z = keras.ops.zeros((1, L, 4))
            for layer in head:
                z = layer(z)
            fb = np.asarray(z)[0]
        else:
            fb = smooth.predict(np.full((1, L), MASK), verbose=0)[0]
        gap = att.values.sum(axis=1) - (smooth.predict(ids, verbose=0) - fb)
        assert np.abs(gap).max() < 1e-4
        assert att.stats["max_completeness_gap"] < 1e-4
        np.testing.assert_allclose(att.base_values, np.broadcast_to(fb, (4, 2)), atol=1e-5)


def test_padding_gets_no_integrated_gradient(model, smooth_igs):
    ids = _ids()
    keep = ids != PAD
    plain = smooth_igs[MASK].explain(ids, target=1)
    assert np.abs(plain.values[~keep]).min() > 1e-4      # padding as tokens: it counts
    for ig in smooth_igs.values():
        att = ig.explain(ids, target=1, pad_id=PAD)
        assert np.all(att.values[~keep] == 0) and att.token_mask.tolist() == keep.tolist()
        assert att.stats["max_completeness_gap"] < 1e-4
    att = xaicore.TokenIntegratedGradients(model, baseline_id=MASK).explain(
        ids, target=1, mask=keep, vocab=VOCAB)            # a mask works as pad_id does
    assert np.all(att.values[~keep] == 0)
    assert att.values.argmax(axis=1).tolist() == [3, 8, 1, 5]
    assert att.stats["max_completeness_gap"] < 0.05       # max pooling: a kinked path


# -- tokens on the result, files, shap, HTML, plot -----------------------------------------
@pytest.fixture(scope="module")
def text_att(model):
    ig = xaicore.TokenIntegratedGradients(model, baseline_id=MASK, pad_id=PAD, n_steps=16)
    return ig.explain(_ids(), target=1, vocab=VOCAB)


def test_tokens_travel_in_npz(text_att, tmp_path):
    back = xaicore.Attribution.load(text_att.save(tmp_path / "t.npz"))
    assert back.tokens.tolist() == text_att.tokens.tolist()
    assert back.token_mask.tolist() == text_att.token_mask.tolist()
    with np.load(tmp_path / "t.npz", allow_pickle=False) as z:    # plain arrays, no pickle
        assert z["text__tokens"].dtype.kind == "U" and z["text__token_mask"].dtype == bool
    plain = xaicore.Attribution.load(xaicore.Attribution(
        values=np.zeros((1, 2)), base_values=np.zeros(1), data=np.zeros((1, 2)),
        method="m").save(tmp_path / "p.npz"))
    assert plain.tokens is None and plain.token_mask is None


def test_shap_plots_text_draws_each_row(text_att):
    shap = pytest.importorskip("shap")
    exp = text_att.to_shap()
    for row in (0, 2, 3):
        html = shap.plots.text(exp[row], display=False)
        words = [VOCAB[i] for i in _ids()[row] if i != PAD]
        assert len(exp[row].data) == len(words)
        divs = [d.strip() for d in re.findall(r"<div[^>]*>([^<]*)</div>", html)]
        assert divs[-len(words):] == words                  # every token, in order
        assert "&lt;pad&gt;" not in html and "<pad>" not in html


def test_to_html_holds_every_token_coloured_by_sign(text_att, tmp_path):
    path = tmp_path / "out" / "row3.html"
    html = text_att.to_html(3, path=path)
    assert path.read_text(encoding="utf-8") == html and html.startswith("<!DOCTYPE html>")
    spans = re.findall(r'<span class="tok" title="([^"]+)" data-value="([^"]+)" '
                       r'style="background:#(\w{6});[^"]*">([^<]*)</span>', html)
    words = [VOCAB[i] for i in _ids()[3] if i != PAD]
    assert [s[3] for s in spans] == words
    vals = text_att.values[3][_ids()[3] != PAD]
    for (title, value, bg, _), v in zip(spans, vals):
        assert float(title) == pytest.approx(v, rel=1e-3, abs=1e-12)
        r, g, b = (int(bg[i:i + 2], 16) for i in (0, 2, 4))
        if v > 1e-6:
            assert r > b, (v, bg)
        elif v < -1e-6:
            assert b > r, (v, bg)
        else:
            assert (r, g, b) == (255, 255, 255)
    assert "linear-gradient" in html                         # the legend
    with pytest.raises(xaicore.InputError, match=r"^row: expected an int in 0\.\.3"):
        text_att.to_html(4, path=tmp_path / "never.html")
    assert not (tmp_path / "never.html").exists()


def test_plot_text_geometry(text_att):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = text_att.plot_text(2)
    boxes = [t for t in ax.texts if t.get_gid() == "token"]
    assert [t.get_text() for t in boxes] == [VOCAB[i] for i in _ids()[2][:6]]
    vals = text_att.values[2, :6]
    for t, v in zip(boxes, vals):
        r, _, b, _ = t.get_bbox_patch().get_facecolor()
        if abs(v) > 1e-6:
            assert (r > b) == (v > 0), (t.get_text(), v)
    assert len(ax.figure.axes) == 2                          # the axes and its colour bar
    long = text_att.with_tokens(tokens=[["a-rather-long-token"] * L] * 4)
    fig, ax2 = plt.subplots(figsize=(4, 2))
    long.plot_text(0, ax=ax2)
    ys = {round(t.get_position()[1], 6) for t in ax2.texts if t.get_gid() == "token"}
    assert len(ys) > 1                                       # wrapped into lines
    r = fig.canvas.get_renderer()
    inv = ax2.transAxes.inverted()
    assert all(t.get_window_extent(r).transformed(inv).x1 <= 1.0 + 1e-6
               for t in ax2.texts if t.get_gid() == "token")
    plt.close("all")
    with pytest.raises(xaicore.InputError, match=r"^tokens: this attribution carries no"):
        xaicore.Attribution(values=np.zeros((1, 2)), base_values=np.zeros(1),
                            data=np.zeros((1, 2), int), method="m").plot_text(0)
