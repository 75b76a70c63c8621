"""kws.config: YAML round trip, overrides, and one-line errors naming the key."""

from __future__ import annotations

import pytest

from kws.config import RunConfig, dump_yaml, load_config, save_config
from kws.errors import ConfigError


def test_config_defaults_round_trip_through_yaml(tmp_path):
    cfg = load_config(None, ["model.hidden=64", "train.lr=0.001", "augment.snr_db=[5, 15]"])
    path = tmp_path / "run.yaml"
    save_config(cfg, path)
    again = load_config(path)
    assert again == cfg
    assert again.model.hidden == 64 and again.train.lr == 0.001
    assert again.augment.snr_db == [5, 15]


def test_config_override_beats_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  family: lstm\n  hidden: 32\n")
    cfg = load_config(path, ["model.hidden=48"])
    assert (cfg.model.family, cfg.model.hidden) == ("lstm", 48)


def test_config_int_widens_to_float():
    assert load_config(None, ["train.lr=1"]).train.lr == 1.0


def test_config_exponent_without_a_dot_is_a_number(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-4 as the string '1e-4'; a float key takes it as a number
    assert load_config(None, ["train.lr=1e-4"]).train.lr == 1e-4
    path = tmp_path / "c.yaml"
    path.write_text("train: {lr: 3E-3, weight_decay: 1e-2}\n")
    cfg = load_config(path)
    assert (cfg.train.lr, cfg.train.weight_decay) == (3e-3, 1e-2)
    assert load_config(None, ["name=1e-4"]).name == "1e-4"  # a text key keeps the text


def test_config_yes_no_on_off_stay_words(tmp_path):
    # YAML 1.1 reads yes/no/on/off as booleans: Speech Commands labels would silently turn
    # into True/False and, e.g., exclude nothing
    words = ["yes", "no", "on", "off", "up"]
    cfg = load_config(None, ["data.extra_exclude=[yes, no, on, off, up]", "train.amp=false"])
    assert cfg.data.extra_exclude == words and cfg.train.amp is False
    path = tmp_path / "c.yaml"
    path.write_text("data: {extra_exclude: [yes, no, on, off, up]}\n")
    assert load_config(path).data.extra_exclude == words
    save_config(cfg, path)
    assert load_config(path).data.extra_exclude == words
    assert load_config(None, ["data.extra_exclude=[0, 7]"]).data.extra_exclude == ["0", "7"]


@pytest.mark.parametrize("override,pattern", [
    (["model.hiddn=64"], r"^model\.hiddn: unknown key"),
    (["modle.hidden=64"], r"^modle: unknown key"),
    (["model.hidden=abc"], r"^model\.hidden='abc': expected an integer"),
    (["model.hidden=1.5"], r"^model\.hidden=1\.5: expected an integer"),
    (["model.hidden=0"], r"^model\.hidden=0: out of range"),
    (["train.lr=-1"], r"^train\.lr=-1\.0: out of range"),
    (["train.amp=maybe"], r"^train\.amp='maybe': expected true or false"),
    (["train.schedule=linear"], r"^train\.schedule='linear': expected one of"),
    (["train.teachers=[a.pt]", "train.loss=maxpool"], r"^train\.teachers: distillation"),
    (["train.teachers=a.pt"], r"^train\.teachers='a\.pt': expected a list"),
    (["data.extra_exclude=[1.5]"], r"^data\.extra_exclude: item 1\.5 is not a name"),
    (["augment.end_align=yes"], r"^augment\.end_align='yes': expected true or false"),
    (["model.family=transformer"], r"^model\.family='transformer': expected one of"),
    (["augment.context_ms=6000"], r"^augment\.context_ms=6000(\.0)?: out of range"),
    (["augment.snr_db=[20, 5]"], r"^augment\.snr_db=\[20, 5\]: expected \[low, high\]"),
    (["augment.warp=[0.5, 1.1]"], r"^augment\.warp=\[0\.5, 1\.1\]: expected factors in"),
    (["sequences.pause_ms=[-5, 100]"], r"^sequences\.pause_ms=\[-5, 100\]: expected .* 0 <= low"),
    (["data.hard_negatives=[mined]"], r"^data\.hard_negatives=\['mined'\]: .*sequences\.batch > 0"),
    (["features.f_max=9000"], r"^features\.f_max=9000\.0: must be <= sample_rate/2"),
    (["features.window_ms=25.03"], r"^features\.window_ms=25\.03: must be a whole number"),
    (["model=3"], r"^model: expected a mapping"),
    (["train.lr"], r"expected KEY=VALUE"),
    (["train.lr=.nan"], r"^train\.lr=nan: expected a finite number"),
    (["train.lr=1e-4x"], r"^train\.lr='1e-4x': expected a number"),
])
def test_config_bad_values_name_the_key(override, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config(None, override)
    assert "\n" not in str(info.value)


def test_config_bad_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(path)


def test_config_yaml_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_config(path)


def test_config_yaml_cannot_run_code(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    assert not (tmp_path / "pwned").exists()


def test_config_dump_is_complete():
    text = dump_yaml(RunConfig())
    for section in ("data:", "features:", "augment:", "model:", "train:"):
        assert section in text
