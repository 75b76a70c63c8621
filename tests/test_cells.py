"""The seed's cells, written explicitly, against torch.nn holding the same weights and
against a plain reference written from the seed's equations."""

from __future__ import annotations

import pytest
import torch

from kws.config import FeatureConfig, ModelConfig
from kws.models import FAMILIES, KwsModel, RecurrentLayer, get_family

torch.manual_seed(0)


@pytest.mark.parametrize("family", ["rnn", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("length", [1, 200])
@pytest.mark.parametrize("batch", [1, 8])
def test_cell_matches_torch_nn(family, length, batch):
    layer = RecurrentLayer(get_family(family), 20, 32)
    x = torch.randn(batch, length, 20)
    state = tuple(0.5 * torch.randn(batch, 32) for _ in layer.family.states)
    with torch.no_grad():
        fast, fast_state = layer(x, state)
        slow, slow_state = layer(x, state, explicit=True)
    assert (fast - slow).abs().max().item() <= 1e-5
    for a, b in zip(fast_state, slow_state, strict=True):
        assert (a - b).abs().max().item() <= 1e-5


def _seed_gru(x, h, w_r, w_z, w_h, b_r, b_z, b_h):
    """The seed's GRU, literally: gates on [h_{t-1}, x_t], reset before the product,
    h_t = (1 - z) h_{t-1} + z h~."""
    outs = []
    for t in range(x.shape[1]):
        hx = torch.cat([h, x[:, t]], dim=-1)
        r = torch.sigmoid(hx @ w_r.t() + b_r)
        z = torch.sigmoid(hx @ w_z.t() + b_z)
        h_tilde = torch.tanh(torch.cat([r * h, x[:, t]], dim=-1) @ w_h.t() + b_h)
        h = (1 - z) * h + z * h_tilde
        outs.append(h)
    return torch.stack(outs, dim=1), h


@pytest.mark.parametrize("length", [1, 200])
@pytest.mark.parametrize("batch", [1, 8])
def test_cell_gru_cho_matches_seed_equations(length, batch):
    hidden, inp = 16, 10
    layer = RecurrentLayer(get_family("gru_cho"), inp, hidden)
    w_ih, w_hh, b_ih, b_hh = (p.detach() for p in layer.weights)
    # torch layout (r, z, n) -> the seed's [h, x] matrices; our z is the seed's 1 - z
    wr = torch.cat([w_hh[:hidden], w_ih[:hidden]], dim=1)
    wz = -torch.cat([w_hh[hidden:2 * hidden], w_ih[hidden:2 * hidden]], dim=1)
    wh = torch.cat([w_hh[2 * hidden:], w_ih[2 * hidden:]], dim=1)
    br = b_ih[:hidden] + b_hh[:hidden]
    bz = -(b_ih[hidden:2 * hidden] + b_hh[hidden:2 * hidden])
    bh = b_ih[2 * hidden:] + b_hh[2 * hidden:]
    x, h0 = torch.randn(batch, length, inp), torch.randn(batch, hidden)
    with torch.no_grad():
        ours, (h_ours,) = layer(x, (h0,))
    ref, h_ref = _seed_gru(x, h0, wr, wz, wh, br, bz, bh)
    assert (ours - ref).abs().max().item() <= 1e-5
    assert (h_ours - h_ref).abs().max().item() <= 1e-5


def test_cell_gru_reset_positions_are_different_models():
    torch.manual_seed(1)
    cho = RecurrentLayer(get_family("gru_cho"), 8, 8)
    cudnn = RecurrentLayer(get_family("gru"), 8, 8)
    cudnn.load_state_dict(cho.state_dict())
    x, h = torch.randn(2, 20, 8), (torch.randn(2, 8),)
    with torch.no_grad():
        assert (cho(x, h)[0] - cudnn(x, h)[0]).abs().max() > 1e-3


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_cell_model_chunked_equals_whole(family, stride):
    model = KwsModel(FeatureConfig(), ModelConfig(family=family, hidden=24, layers=2,
                                                  frame_stride=stride),
                     ["_silence_", "a", "b"]).eval()
    feats = torch.randn(3, 60, 20)
    piece = 6 * stride
    with torch.no_grad():
        whole, _ = model(feats)
        state, parts = None, []
        for lo in range(0, 60, piece):
            out, state = model(feats[:, lo:lo + piece], state, explicit=True)
            parts.append(out)
    assert whole.shape[1] == 60 // stride
    assert (torch.cat(parts, 1) - whole).abs().max().item() <= 1e-5


def test_cell_frame_stride_stacks_consecutive_frames():
    model = KwsModel(FeatureConfig(), ModelConfig(hidden=8, layers=1, frame_stride=2), ["a"])
    feats = torch.arange(2 * 5 * 20, dtype=torch.float32).reshape(2, 5, 20)
    stacked = model.stack(feats)
    assert stacked.shape == (2, 2, 40)
    assert torch.equal(stacked[1, 1], torch.cat([feats[1, 2], feats[1, 3]]))
    assert model.layers[0].weights[0].shape[1] == 40
    assert model.macs_per_frame()["model"] == (3 * 8 * (40 + 8) + 8) // 2


def test_cell_model_size_report():
    model = KwsModel(FeatureConfig(), ModelConfig(family="gru", hidden=128, layers=2),
                     [str(i) for i in range(12)])
    expected = 3 * 128 * (20 + 128) + 3 * 128 * (128 + 128) + 12 * 128
    assert model.macs_per_frame()["model"] == expected
    assert model.num_params() == expected + 4 * 3 * 128 + 12
    assert model.state_size() == 256
    lstm = KwsModel(FeatureConfig(), ModelConfig(family="lstm", hidden=64, layers=1), ["a"])
    assert lstm.state_size() == 128


def test_cell_gradient_clipping_and_family_are_config_choices():
    from kws.config import load_config

    cfg = load_config(None, ["model.family=rnn_relu", "train.grad_clip=1.5"])
    assert cfg.model.family == "rnn_relu" and cfg.train.grad_clip == 1.5


@pytest.mark.parametrize("family", ["rnn", "lstm", "gru"])
def test_cell_orthogonal_init_keeps_the_state_norm(family):
    """model.recurrent_init=orthogonal: every gate block of W_hh is orthogonal (a state
    keeps its norm through it), recurrent biases start at 0, the LSTM keeps forget bias 1;
    torch.nn's uniform default shrinks a state instead."""
    cfg = ModelConfig(family=family, hidden=48, layers=2, recurrent_init="orthogonal")
    model = KwsModel(FeatureConfig(), cfg, ["a", "b"])
    for layer in model.layers:
        _, w_hh, b_ih, b_hh = layer.weights
        for block in w_hh.detach().split(48, dim=0):
            assert torch.allclose(block @ block.t(), torch.eye(48), atol=1e-5)
        assert not b_hh.any()
        if family == "lstm":
            assert torch.all(b_ih[48:96] == 1.0)
    plain = KwsModel(FeatureConfig(), ModelConfig(family=family, hidden=48), ["a", "b"])
    _, w_hh, _, _ = plain.layers[1].weights
    h = torch.randn(48)
    assert (w_hh[:48].detach() @ h).norm() < 0.8 * h.norm()


def test_cell_identity_init_is_the_irnn():
    cfg = ModelConfig(family="rnn_relu", hidden=16, layers=1, recurrent_init="identity")
    _, w_hh, _, b_hh = KwsModel(FeatureConfig(), cfg, ["a", "b"]).layers[0].weights
    assert torch.equal(w_hh.detach(), torch.eye(16)) and not b_hh.any()
