"""The base encoder: phonemes of text, utterances of corpora, CTC training, the shipped
encoder and keyword runs that start from it."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from kws.data.phonemes import (
    LABELS,
    PHONEMES,
    espeak_pronunciation,
    ipa_to_arpabet,
    phoneme_ids,
    phonemes,
    pronunciations,
)
from kws.errors import KwsInputError
from kws.train.ctc import ctc_loss, greedy_decode, phoneme_error_rate
from tests.conftest import shared


def test_phonemes_come_from_cmudict_with_every_pronunciation():
    assert phonemes("Hello, world") == ["HH", "AH", "L", "OW", "W", "ER", "L", "D"]
    assert len(pronunciations("read")) >= 2  # cmudict's alternatives are all kept
    assert phonemes("4 2") == phonemes("four two")
    assert phonemes("a 12-ounce latte") == phonemes("a twelve ounce latte")


def test_words_cmudict_lacks_get_espeak_phonemes_in_the_same_inventory():
    pron = pronunciations("zorblatt")
    assert len(pron) == 1 and pron[0]
    assert set(pron[0]) <= set(PHONEMES)
    assert ipa_to_arpabet("ˈɑːɹ") == ["AA", "R"]
    assert ipa_to_arpabet("dʒ") == ["JH"]


def test_espeak_fallback_agrees_with_cmudict_on_common_words():
    """The fallback is only as good as its agreement with the dictionary on words both
    know: measured 11-12 % phoneme edits on these (mostly vowel reductions)."""
    from kws.data.phonetic import vocabulary

    words = vocabulary(300)
    refs = [pronunciations(w) for w in words]
    hyps = [list(espeak_pronunciation(w)) for w in words]
    # the closest dictionary pronunciation of each word is the reference
    best = [min(r, key=lambda p, h=h: phoneme_error_rate([h], [p])) for h, r in
            zip(hyps, refs, strict=True)]
    assert phoneme_error_rate(hyps, best) < 0.2


def test_phoneme_ids_index_the_labels_past_the_blank():
    ids = phoneme_ids("stop")
    assert [LABELS[i] for i in ids] == ["S", "T", "AA", "P"]
    assert 0 not in ids


def test_greedy_decode_merges_repeats_and_drops_blanks():
    path = [0, 3, 3, 0, 3, 5, 5, 0, 0]
    logp = np.full((1, len(path) + 2, 6), -9.0)
    logp[0, np.arange(len(path)), path] = 0.0
    assert greedy_decode(logp, [len(path)]) == [[3, 3, 5]]
    assert phoneme_error_rate([[3, 5]], [[3, 3, 5]]) == pytest.approx(1 / 3)


def test_ctc_loss_is_lowest_for_the_right_phonemes():
    torch.manual_seed(0)
    logits = torch.randn(1, 12, 6)
    logits[0, 2:4, 3] += 8.0
    logits[0, 6:8, 5] += 8.0
    steps = torch.tensor([12])
    assert ctc_loss(logits, steps, [[3, 5]]) < ctc_loss(logits, steps, [[5, 3]])


def test_utterances_of_keyword_synthetic_and_transcript_corpora(tmp_path, tiny_corpus):
    from kws.data.phonetic import utterances

    fsdd = utterances(shared("fsdd"))
    assert {u.text for u in fsdd} == {str(d) for d in range(10)}
    assert phonemes(fsdd[0].text)  # digits are spoken words
    sc = utterances(shared("speech_commands_mini"))
    assert not any(u.text.startswith("_") for u in sc)
    assert {u.split for u in sc} == {"train", "validation", "test"}
    from kws.data.phonetic import gather

    said = {u.text for u in gather([str(shared("speech_commands_mini"))], "train")[0]}
    kept = {u.text for u in gather([str(shared("speech_commands_mini"))], "train",
                                   ["Sheila"])[0]}
    assert "sheila" in said and said - kept == {"sheila"}  # a held-out word never trains
    syn = utterances(tiny_corpus)  # the negatives say their own text, not "_unknown_"
    assert {"banana", "window", "yes"} <= {u.text for u in syn}
    wav = next(tiny_corpus.rglob("*.wav"))
    table = tmp_path / "t.csv"
    with open(table, "w", newline="") as fh:
        csv.writer(fh).writerows([["file", "text", "split"], [str(wav), "a large latte",
                                                               "train"]])
    assert [u.text for u in utterances(table)] == ["a large latte"]
    table.write_text("file,words\nx.wav,hi\n")
    with pytest.raises(KwsInputError, match=r"t\.csv"):
        utterances(table)


def _tiny_pretrain(out, corpus, *extra: str):
    from kws.config import load_config
    from kws.train.pretrain import pretrain

    cfg = load_config(None, [f"pretrain.corpora=[{corpus}]", "model.hidden=48",
                             "model.layers=1", "model.frame_stride=2", "train.batch_size=16",
                             "train.lr=0.01", "train.checkpoint_every=20", "train.workers=1",
                             "augment.time_masks=0", "augment.freq_masks=0", *extra])
    return pretrain(cfg, out, log=lambda *_: None)


@pytest.mark.slow
def test_pretraining_learns_phonemes_and_resumes_exactly(tmp_path, tiny_corpus):
    """A small encoder on the tiny synthetic corpus: CTC training takes the phoneme error
    rate of its held-out voices far below 100 % (an untrained model emits blanks or noise:
    100 % or more); a run killed mid-epoch and resumed ends as the uninterrupted one."""
    from kws.config import load_config
    from kws.train.pretrain import evaluate_per, pretrain

    whole = tmp_path / "whole"
    summary = _tiny_pretrain(whole, tiny_corpus, "train.epochs=4")
    assert summary["val_per"] < 0.85
    history = [json.loads(line) for line in (whole / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    with pytest.raises(KwsInputError, match="already holds a run"):
        _tiny_pretrain(whole, tiny_corpus, "train.epochs=4")

    def kill_after_epoch_2(line: str) -> None:
        if line.startswith("epoch 2/"):
            raise KeyboardInterrupt

    killed = tmp_path / "killed"
    cfg = load_config(whole / "config.yaml")
    with pytest.raises(KeyboardInterrupt):
        pretrain(cfg, killed, log=kill_after_epoch_2)
    lines: list[str] = []
    resumed = pretrain(cfg, killed, resume=True, log=lines.append)
    assert any(line.startswith("resumed at epoch 2, step ") for line in lines)
    assert resumed["val_per"] == summary["val_per"]
    report = evaluate_per(killed, [str(tiny_corpus)], "test")
    assert report["sets"][str(tiny_corpus)]["per"] < 0.85


def test_a_keyword_run_starts_from_an_encoder(tmp_path, tiny_corpus):
    """train.init of a phoneme encoder: its recurrent layers and feature statistics are
    loaded (frozen here), a recurrent layer on top and the keyword classifier are new."""
    from kws.config import load_config
    from kws.train.checkpoint import read_model_file
    from kws.train.trainer import train

    enc = tmp_path / "enc"
    _tiny_pretrain(enc, tiny_corpus, "train.epochs=1", "data.noise=[]")
    blob = read_model_file(enc / "model.pt")
    run = tmp_path / "kw"
    cfg = load_config(None, [f"data.corpus={tiny_corpus}", "model.hidden=48", "model.layers=2",
                             "model.frame_stride=2", "train.epochs=1", "train.batch_size=16",
                             "train.workers=1", f"train.init={enc / 'model.pt'}",
                             "train.freeze_layers=1"])
    lines: list[str] = []
    summary = train(cfg, run, log=lines.append, progress=False)
    assert any("1 recurrent layer(s) and classifier new" in line for line in lines)
    kw = read_model_file(run / "model.pt")
    assert summary["encoder"] is None  # not a shipped encoder: nothing to record
    for key in ("layers.0.rnn.weight_hh_l0", "feat_mean", "feat_std"):
        assert torch.equal(kw["state_dict"][key], blob["state_dict"][key])
    assert kw["state_dict"]["classifier.weight"].shape[0] == len(kw["labels"])
    assert "layers.1.rnn.weight_hh_l0" in kw["state_dict"]


def test_encoder_prefix_names_shipped_encoders_only():
    from kws import encoders

    assert encoders.resolve("runs/x/model.pt") == "runs/x/model.pt"
    with pytest.raises(KwsInputError, match=r"train\.init=encoder:nope"):
        encoders.resolve("encoder:nope")


def test_shipped_encoder_hears_phonemes_of_held_out_speakers():
    """The encoder in the package: its report names its file, and on FSDD's test recordings
    (never in its training split) it decodes the digits' phonemes far better than an
    untrained encoder (100 % or more)."""
    from kws import encoders
    from kws.train.pretrain import evaluate_per

    path = encoders.resolve("encoder:base")
    ident = encoders.identity(path)
    report = json.loads(encoders.FOLDER.joinpath("base.json").read_text())
    assert ident["sha256"] == report["sha256"] and ident["version"] == report["version"]
    fsdd = shared("fsdd")
    per = evaluate_per(path, [str(fsdd)], "test")["sets"][str(fsdd)]["per"]
    assert per < 0.5


def test_a_bundle_records_the_shipped_encoder_it_was_built_on(tmp_path, tiny_corpus):
    from kws import encoders
    from kws.config import load_config
    from kws.export.bundle import ExportOptions, export_bundle
    from kws.train.checkpoint import read_model_file
    from kws.train.trainer import train

    enc = read_model_file(encoders.resolve("encoder:base"))["config"]["model"]
    run = tmp_path / "kw"
    cfg = load_config(None, [f"data.corpus={tiny_corpus}", f"model.hidden={enc['hidden']}",
                             f"model.layers={enc['layers']}",
                             f"model.frame_stride={enc['frame_stride']}", "train.epochs=1",
                             "train.batch_size=32", "train.workers=1", "train.init=encoder:base"])
    summary = train(cfg, run, log=lambda *_: None, progress=False)
    assert summary["encoder"] == encoders.identity(encoders.resolve("encoder:base"))
    meta = export_bundle(run, tmp_path / "bundle", ExportOptions(
        quantize="none", chunk_hops=4, verify_clips=4, accuracy_clips=20), log=lambda *_: None)
    assert meta["training"]["encoder"]["version"] == summary["encoder"]["version"]
