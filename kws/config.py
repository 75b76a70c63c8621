"""Run configuration: dataclasses that define, validate, load and save one YAML file.

Every run is fully described by one `RunConfig`. Each field carries its allowed range or
choices in its metadata, so a bad value is reported with its dotted key and what was
expected, in one line. Dotted overrides (`model.hidden=64`) are applied to the raw mapping
before validation, so they are checked exactly like the file.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kws.data.phonemes import HELD_OUT_WORDS
from kws.errors import ConfigError


def spec(default: Any, *, lo: float | None = None, hi: float | None = None,
         choices: tuple | None = None, doc: str = "") -> Any:
    """A dataclass field with its validation rules (inclusive range or allowed choices)."""
    meta = {"lo": lo, "hi": hi, "choices": choices, "doc": doc}
    if isinstance(default, list):
        return field(default_factory=lambda d=default: list(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class FeatureConfig:
    """MFCC front end. Frames are not centred: frame t covers samples [t*hop, t*hop+window)."""

    sample_rate: int = spec(16000, lo=8000, hi=48000, doc="Hz")
    window_ms: float = spec(25.0, lo=5.0, hi=100.0)
    hop_ms: float = spec(10.0, lo=2.5, hi=50.0)
    n_fft: int = spec(512, lo=64, hi=4096)
    n_mels: int = spec(40, lo=8, hi=128)
    f_min: float = spec(20.0, lo=0.0, hi=8000.0)
    f_max: float = spec(7600.0, lo=100.0, hi=24000.0)
    n_cepstra: int = spec(20, lo=4, hi=128)
    log_floor: float = spec(1e-10, lo=1e-20, hi=1e-2, doc="floor of the mel power before log")
    scale: float = spec(0.1, lo=1e-6, hi=1e6, doc="multiplies the cepstra (dB units)")

    @property
    def win_length(self) -> int:
        return round(self.window_ms * self.sample_rate / 1000)

    @property
    def hop_length(self) -> int:
        return round(self.hop_ms * self.sample_rate / 1000)

    def check(self, prefix: str) -> None:
        for key, ms in (("window_ms", self.window_ms), ("hop_ms", self.hop_ms)):
            samples = ms * self.sample_rate / 1000
            if abs(samples - round(samples)) > 1e-6:
                raise ConfigError(f"{prefix}.{key}={ms}: must be a whole number of samples at "
                                  f"{self.sample_rate} Hz")
        if self.win_length > self.n_fft:
            raise ConfigError(f"{prefix}.n_fft={self.n_fft}: must be >= the window "
                              f"({self.win_length} samples)")
        if self.hop_length > self.win_length:
            raise ConfigError(f"{prefix}.hop_ms={self.hop_ms}: must be <= window_ms")
        if self.f_max > self.sample_rate / 2:
            raise ConfigError(f"{prefix}.f_max={self.f_max}: must be <= sample_rate/2 "
                              f"({self.sample_rate / 2})")
        if self.f_min >= self.f_max:
            raise ConfigError(f"{prefix}.f_min={self.f_min}: must be < f_max ({self.f_max})")
        if self.n_cepstra > self.n_mels:
            raise ConfigError(f"{prefix}.n_cepstra={self.n_cepstra}: must be <= n_mels "
                              f"({self.n_mels})")


@dataclass
class DataConfig:
    """Which corpus, which task, and how clips become training examples."""

    corpus: str = spec("", doc="corpus path: a folder or a CSV manifest")
    task: str = spec("auto", choices=("auto", "sc12", "sc35", "words"),
                     doc="label set; sc12/sc35 apply to Speech Commands layouts")
    extra_train: list[str] = spec([], doc="more corpora whose training clips join the "
                                          "training split")
    extra_exclude: list[str] = spec([], doc="labels of the extra corpora to leave out")
    validation_corpus: str = spec("", doc="a corpus whose validation split replaces "
                                          "data.corpus's: the best epoch, and the start "
                                          "among train.init_candidates, are picked on the "
                                          "speech the model is for (synthetic pretraining "
                                          "judged on real clips)")
    clip_seconds: float = spec(1.0, lo=0.2, hi=10.0)
    silence_fraction: float = spec(0.1, lo=0.0, hi=1.0,
                                   doc="_silence_ clips per split, as a fraction of its size")
    noise: list[str] = spec([], doc="noise folders/files for augmentation and _silence_")
    cache_dir: str = spec("", doc="waveform cache; empty: the user cache directory")
    balance: bool = spec(False, doc="sample classes equally in training")
    extra_share: float = spec(0.0, lo=0.0, hi=0.9,
                              doc="share of each epoch drawn afresh from the extra_train "
                                  "clips (0: every extra clip, once per epoch)")
    continuous: list[str] = spec([], doc="folders of continuous speech without keywords "
                                         "(their training split, kws.data.continuous): "
                                         "negatives inside training sequences")
    continuous_minutes: float = spec(120.0, lo=0.0, hi=10000.0,
                                     doc="most minutes of continuous speech loaded")
    hard_negatives: list[str] = spec([], doc="folders of mined hard negatives (`kws mine`): "
                                             "windows where a model fired on keyword-free "
                                             "audio, negatives inside training sequences")

    def check(self, prefix: str) -> None:
        if self.extra_share and not self.extra_train:
            raise ConfigError(f"{prefix}.extra_share={self.extra_share}: sets the share of "
                              "extra_train clips: set data.extra_train too")
        if self.extra_share and self.balance:
            raise ConfigError(f"{prefix}.extra_share={self.extra_share}: expected 0 with "
                              "data.balance (both set how an epoch is drawn)")


def _check_pairs(section: object, prefix: str, keys: tuple[str, ...],
                 minimum: float | None = None) -> None:
    """Each key of `section` must be [low, high] numbers with low <= high (and >= minimum)."""
    for key in keys:
        pair = getattr(section, key)
        if len(pair) != 2 or not all(isinstance(v, int | float) for v in pair) \
                or pair[0] > pair[1] or (minimum is not None and pair[0] < minimum):
            bound = "low <= high" if minimum is None else f"{minimum:g} <= low <= high"
            raise ConfigError(f"{prefix}.{key}={pair}: expected [low, high] numbers, {bound}")


@dataclass
class AugmentConfig:
    """Training-only augmentation; all of it is off in evaluation."""

    noise_prob: float = spec(0.8, lo=0.0, hi=1.0)
    snr_db: list = spec([0.0, 20.0], doc="[low, high] SNR of mixed noise, dB")
    gain_db: list = spec([-10.0, 6.0], doc="[low, high] level change, dB")
    shift_ms: float = spec(100.0, lo=0.0, hi=1000.0, doc="random time shift, +- ms")
    end_align: bool = spec(True, doc="shift each spoken clip so the word ends end_margin_ms "
                                     "before the clip's last frame (silence: shift_ms)")
    end_margin_ms: list = spec([50.0, 250.0], doc="[low, high] gap after the word's end")
    speed: list = spec([0.9, 1.1], doc="[low, high] speed factor (1.0 = off)")
    warp: list = spec([1.0, 1.0], doc="[low, high] vocal tract length perturbation: mel "
                                      "filter frequency factor (1.0 = off)")
    reverb_prob: float = spec(0.0, lo=0.0, hi=1.0, doc="room reverberation (a synthetic "
                              "room, or a measured one from augment.rir)")
    rir: list[str] = spec([], doc="folders/files of measured room impulse responses (e.g. "
                                  "../shared/data/rir); half of the reverberated examples "
                                  "use one of them")
    bandlimit_prob: float = spec(0.0, lo=0.0, hi=1.0, doc="random low/high-pass colouring")
    time_masks: int = spec(2, lo=0, hi=10, doc="SpecAugment masks along time")
    time_mask_frames: int = spec(15, lo=0, hi=100)
    freq_masks: int = spec(2, lo=0, hi=10, doc="SpecAugment masks along frequency")
    freq_mask_bins: int = spec(4, lo=0, hi=40, doc="widest mask, in cepstra or mel bands")
    freq_mask_space: str = spec("cepstra", choices=("cepstra", "mel"),
                                doc="what frequency masks cover: cepstral coefficients, or "
                                    "mel bands before the DCT (SpecAugment's own)")
    context_prob: float = spec(0.5, lo=0.0, hi=1.0,
                               doc="prepend another clip's audio so the state is not fresh")
    context_ms: float = spec(500.0, lo=0.0, hi=5000.0,
                             doc="longest context prefix (other clips end to end)")

    def check(self, prefix: str) -> None:
        _check_pairs(self, prefix, ("snr_db", "gain_db", "speed", "warp", "end_margin_ms"))
        if not 0.5 <= self.speed[0] <= self.speed[1] <= 2.0:
            raise ConfigError(f"{prefix}.speed={self.speed}: expected factors in [0.5, 2.0]")
        if not 0.7 <= self.warp[0] <= self.warp[1] <= 1.4:
            raise ConfigError(f"{prefix}.warp={self.warp}: expected factors in [0.7, 1.4]")


@dataclass
class SequenceConfig:
    """Training sequences for continuous audio (kws.data.sequences): several seconds of
    keywords among and inside other speech, a target for every step, the state carried
    through the whole sequence. Each step trains on `batch` of them beside the clips."""

    batch: int = spec(0, lo=0, hi=65536, doc="sequences per step; 0: clips only")
    seconds: float = spec(4.0, lo=1.0, hi=30.0, doc="length of a sequence")
    weight: float = spec(1.0, lo=0.0, hi=100.0, doc="weight of their loss against the clips'")
    keyword_share: float = spec(0.35, lo=0.0, hi=1.0, doc="share of items that are keywords")
    continuous_share: float = spec(0.25, lo=0.0, hi=1.0,
                                   doc="share of items cut from data.continuous (when set)")
    hard_share: float = spec(0.15, lo=0.0, hi=1.0,
                             doc="share of items from data.hard_negatives (when set)")
    running_share: float = spec(0.5, lo=0.0, hi=1.0,
                                doc="share of joints between items that are running "
                                    "speech (joint_ms) rather than pauses (pause_ms)")
    joint_ms: list = spec([20.0, 150.0], doc="[low, high] joint between words, ms")
    pause_ms: list = spec([150.0, 1200.0], doc="[low, high] pause between items, ms")
    window_ms: list = spec([50.0, 400.0], doc="[low, high] time after a keyword's end "
                           "where its steps are that keyword (the target window)")
    margin_ms: float = spec(250.0, lo=0.0, hi=1000.0,
                            doc="most audio kept around a clip's spoken part, each side")
    tail_ms: float = spec(500.0, lo=0.0, hi=2000.0,
                          doc="steps after the target window left free (no loss)")

    def check(self, prefix: str) -> None:
        _check_pairs(self, prefix, ("joint_ms", "pause_ms", "window_ms"), minimum=0.0)
        if self.keyword_share + self.continuous_share + self.hard_share > 1.0:
            raise ConfigError(f"{prefix}: keyword_share + continuous_share + hard_share = "
                              f"{self.keyword_share + self.continuous_share + self.hard_share:g}"
                              ": expected at most 1 (the rest are other words)")


@dataclass
class ModelConfig:
    """The recurrent encoder; `family` names an entry of kws.models.registry."""

    family: str = spec("gru", doc="rnn | rnn_relu | lstm | gru | gru_cho")
    hidden: int = spec(128, lo=4, hi=2048)
    layers: int = spec(2, lo=1, hi=8)
    dropout: float = spec(0.0, lo=0.0, hi=0.9, doc="between recurrent layers, training only")
    frame_stride: int = spec(1, lo=1, hi=4, doc="frames stacked per recurrent step (a lower "
                             "frame rate for the recurrence: fewer steps, same features)")
    recurrent_init: str = spec("torch", choices=("torch", "orthogonal", "identity"),
                               doc="recurrent weights W_hh at the start: torch.nn's uniform, "
                                   "orthogonal (each gate block; Saxe et al. 2014), or the "
                                   "identity (IRNN, Le et al. 2015, for rnn_relu); biases 0 "
                                   "but the LSTM's forget gate")

    def check(self, prefix: str) -> None:
        from kws.models.registry import FAMILIES

        if self.family not in FAMILIES:
            raise ConfigError(f"{prefix}.family={self.family!r}: expected one of "
                              f"{', '.join(sorted(FAMILIES))}")


@dataclass
class TrainConfig:
    """Optimisation, checkpoints and the loss."""

    epochs: int = spec(30, lo=1, hi=10000)
    batch_size: int = spec(128, lo=1, hi=65536)
    optimizer: str = spec("adamw", choices=("adamw", "adam", "sgd"))
    lr: float = spec(3e-3, lo=1e-7, hi=10.0)
    weight_decay: float = spec(1e-2, lo=0.0, hi=1.0)
    schedule: str = spec("onecycle", choices=("onecycle", "cosine", "constant"))
    warmup: float = spec(0.1, lo=0.0, hi=0.9, doc="fraction of steps warming up")
    grad_clip: float = spec(5.0, lo=0.0, hi=1e6, doc="max gradient norm; 0 turns it off")
    label_smoothing: float = spec(0.05, lo=0.0, hi=0.5)
    loss: str = spec("end", choices=("end", "last_frame", "maxpool"),
                     doc="end: last-frame CE on end-aligned clips + quiet filler (see "
                         "kws.train.loss)")
    patience: int = spec(0, lo=0, hi=10000, doc="early stop after N epochs without gain; 0 off")
    seed: int = spec(0, lo=0, hi=2**31 - 1)
    device: str = spec("auto", choices=("auto", "cpu", "cuda"))
    amp: bool = spec(True, doc="mixed precision on CUDA")
    workers: int = spec(0, lo=0, hi=64, doc="waveform cache builder processes; 0: all cores")
    nan_policy: str = spec("stop", choices=("stop", "skip"),
                           doc="on a non-finite loss: stop the run, or skip the batch")
    checkpoint_every: int = spec(200, lo=1, hi=10**9, doc="steps between checkpoints")
    amp_dtype: str = spec("bfloat16", choices=("bfloat16", "float16"))
    max_steps: int = spec(0, lo=0, hi=10**9, doc="stop after this many steps; 0 off")
    init: str = spec("", doc="a model file (model.pt) whose weights and feature statistics "
                              "start this run: same labels, fine-tuning; other labels, "
                              "transfer (new classifier); features and layers must match")
    init_candidates: list[str] = spec([], doc="model files (model.pt, this run's labels), "
                                              "e.g. several pretraining runs: the one with "
                                              "the best accuracy on this run's validation "
                                              "split starts the run, as train.init would")
    freeze_layers: int = spec(0, lo=0, hi=8,
                              doc="with train.init: the first N recurrent layers keep the "
                                  "weights they start from; the layers above and the "
                                  "classifier learn (transfer to a small corpus)")
    ema: float = spec(0.0, lo=0.0, hi=0.99999,
                      doc="decay of a moving average of the weights that is validated and "
                          "saved (e.g. 0.999); 0 off")
    teachers: list[str] = spec([], doc="model files (model.pt, same labels) whose "
                                       "averaged posteriors the run learns from too: "
                                       "distillation")
    distill: float = spec(0.5, lo=0.0, hi=1.0,
                          doc="weight of the teachers' posteriors against the labels")
    distill_temperature: float = spec(2.0, lo=0.5, hi=20.0,
                                      doc="softens teacher and student posteriors")

    def check(self, prefix: str) -> None:
        if self.teachers and self.loss == "maxpool":
            raise ConfigError(f"{prefix}.teachers: distillation matches the decision frame "
                              "of train.loss end or last_frame, not maxpool")
        if not all(self.teachers):  # items are strings (from_dict): none may be empty
            raise ConfigError(f"{prefix}.teachers={self.teachers}: expected a list of "
                              "model file paths")
        if not all(self.init_candidates):
            raise ConfigError(f"{prefix}.init_candidates={self.init_candidates}: expected a "
                              "list of model file paths")
        if self.init and self.init_candidates:
            raise ConfigError(f"{prefix}.init_candidates: the run starts from one of them; "
                              f"expected train.init empty (it is {self.init!r})")
        if self.freeze_layers and not (self.init or self.init_candidates):
            raise ConfigError(f"{prefix}.freeze_layers={self.freeze_layers}: freezes "
                              "weights a run starts from: set train.init too")


@dataclass
class PretrainConfig:
    """The base encoder's material (`kws pretrain train`, kws.train.pretrain)."""

    corpora: list[str] = spec([], doc="corpus folders and transcript CSVs (kws.data.phonetic)"
                                      " whose train split, with its text, teaches phonemes; "
                                      "their validation split picks the best epoch")
    max_seconds: float = spec(10.0, lo=0.5, hi=60.0, doc="longer utterances are left out")
    held_out_words: list[str] = spec(list(HELD_OUT_WORDS),
                                     doc="utterances saying one of these words are left "
                                         "out of every corpus (the wake words tests use)")

    def check(self, prefix: str) -> None:
        if not all(self.corpora):
            raise ConfigError(f"{prefix}.corpora={self.corpora}: expected a list of paths")


@dataclass
class RunConfig:
    """Everything about one training run."""

    name: str = spec("run")
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    sequences: SequenceConfig = field(default_factory=SequenceConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)

    def check(self, prefix: str) -> None:
        if self.train.freeze_layers > self.model.layers:
            raise ConfigError(f"train.freeze_layers={self.train.freeze_layers}: expected at "
                              f"most model.layers ({self.model.layers})")
        if self.data.hard_negatives and not self.sequences.batch:
            raise ConfigError(f"data.hard_negatives={self.data.hard_negatives}: they are "
                              "trained on inside training sequences; expected "
                              "sequences.batch > 0")


_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _list_string(key: str, item: Any) -> str:
    """An item of a list of names (labels, paths): a bare number such as a digit label
    (`[7]`) is its text; anything else that is not a string is an error."""
    if isinstance(item, int) and not isinstance(item, bool):
        return str(item)
    if not isinstance(item, str):
        raise ConfigError(f"{key}: item {item!r} is not a name; expected a list of strings")
    return item


@functools.cache
def _yaml12_loader() -> type:
    """PyYAML's safe loader with YAML 1.2 booleans: only true/false are booleans, so labels
    such as yes, no, on and off (Speech Commands words) stay strings."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    bool_tag = "tag:yaml.org,2002:bool"
    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != bool_tag]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver(bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))
    return Loader


def _read_yaml(text: str) -> Any:
    """A config file or `--set` value; a safe loader, so no code runs from a config."""
    import yaml

    return yaml.load(text, Loader=_yaml12_loader())


def _coerce(key: str, value: Any, tp: Any, meta: dict) -> Any:
    """Check one value against its declared type and rules; return it (ints widen to float)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        tp = args[0]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}={value!r}: expected true or false")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={value!r}: expected an integer")
    elif tp is float:
        if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-4 (no dot in the mantissa) as a string
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}={value!r}: expected a number")
        value = float(value)
    elif tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r}: expected a string")
    elif tp is list or typing.get_origin(tp) is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}={value!r}: expected a list")
        if tp == list[str]:
            value = [_list_string(key, item) for item in value]
    if value != value:  # NaN
        raise ConfigError(f"{key}={value!r}: expected a finite number")
    lo, hi, choices = meta.get("lo"), meta.get("hi"), meta.get("choices")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{key}={value!r}: out of range, expected {lo} <= value <= {hi}")
    if choices is not None and value not in choices:
        raise ConfigError(f"{key}={value!r}: expected one of {', '.join(map(str, choices))}")
    return value


def from_dict(cls: type, raw: Any, prefix: str = "") -> Any:
    """Build and validate dataclass `cls` from a mapping; unknown keys are errors."""
    where = prefix or "config"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            known = ", ".join(fields)
            raise ConfigError(f"{prefix + '.' if prefix else ''}{key}: unknown key "
                              f"(known: {known})")
    values = {}
    for name, f in fields.items():
        if name not in raw:
            continue
        key = f"{prefix}.{name}" if prefix else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            values[name] = from_dict(tp, raw[name], key)
        else:
            values[name] = _coerce(key, raw[name], tp, dict(f.metadata))
    obj = cls(**values)
    if hasattr(obj, "check"):
        obj.check(where)
    return obj


def to_dict(obj: Any) -> dict:
    """The plain mapping of a config dataclass (what YAML and JSON hold)."""
    return dataclasses.asdict(obj)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`model.hidden=64` -> (['model', 'hidden'], 64); the value is read as YAML."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. model.hidden=64")
    key, value = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"--set {text!r}: empty key")
    try:
        parsed = _read_yaml(value) if value.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: value is not valid YAML "
                          f"({exc.__class__.__name__})") from None
    return path, parsed


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply dotted KEY=VALUE overrides to a raw config mapping (validated later)."""
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: {part} is not a section")
            node = child
        node[path[-1]] = value
    return raw


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping with the safe loader (no code runs from a config)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        raw = _read_yaml(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{p}: not valid YAML ({first})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Load a run config from YAML (or defaults), apply overrides, validate."""
    raw = load_yaml(path) if path else {}
    raw = apply_overrides(raw, overrides or [])
    return from_dict(RunConfig, raw)


def dump_yaml(cfg: Any) -> str:
    import yaml

    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config atomically."""
    from kws.atomic import atomic_write_text

    atomic_write_text(path, dump_yaml(cfg))
