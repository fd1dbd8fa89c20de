"""QAT stage configuration: dataclasses with a doc comment per field, loaded from YAML.

Configs live in ``quant/configs/NAME.yaml``; a path to any YAML file works too. Unknown keys
are errors that name the full dotted key; so are wrong types and out-of-range values.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tsmfpga.core.errors import UserFacingError

from tsmfpga.quant.data import camera
from tsmfpga.quant.models import ModelConfig


class ConfigError(UserFacingError, ValueError):
    """A config file or key is wrong; the message names it and says what to do."""


@dataclass
class DataConfig:
    """Which clips to train and evaluate on."""

    #: "motion" (embedded synthetic temporal task, 32x32 gray), "camera" (embedded synthetic RGB
    #: shop scenes, size >= 32, e.g. 96; quant/data/camera.py) or "video" (a real dataset folder)
    task: str = "motion"
    #: training clips generated for the synthetic task
    train_clips: int = 6000
    #: validation clips (model selection, alarm threshold)
    val_clips: int = 1000
    #: test clips: every accuracy in the report is measured on these
    test_clips: int = 2000
    #: frames per clip (T)
    frames: int = 8
    #: frame height = width in pixels
    size: int = 32
    #: overrides of the synthetic task's MotionConfig fields (difficulty knobs; task "camera": CameraConfig)
    motion: dict = field(default_factory=dict)
    #: real dataset root (task "video"): one folder per class, or with split lists
    video_root: str | None = None
    #: skip unreadable videos (counted in the report) instead of stopping
    skip_corrupt: bool = False
    #: dataset recipe (task "video"): "folders" (one folder per class, seeded 70/15/15 split),
    #: "ucf101" (official trainlist0X/testlist0X), "hmdb51" (official *_test_splitX.txt, 1 = train,
    #: 2 = test, 0 = unused) or "dcsass" (Labels/*.csv, binary normal vs event). See quant/data/recipes.py
    dataset: str = "folders"
    #: official split number (ucf101 and hmdb51: 1, 2 or 3)
    split: int = 1
    #: folder of the split lists; None => the recipe's default under video_root
    #: (ucf101: ucfTrainTestlist, hmdb51: testTrainMulti_7030_splits, dcsass: Labels)
    split_dir: str | None = None
    #: fraction of the official training list held out (seeded) for validation (ucf101, hmdb51)
    val_fraction: float = 0.15
    #: DataLoader worker processes decoding videos (0 = decode in the main process)
    decode_workers: int = 0
    #: optional folder of pre-extracted frames (resized, per video); filled on first use, reused after
    frame_cache: str | None = None


@dataclass
class TrainConfig:
    """Optimisation of the three models (TSN float, TSM float, TSM quantized)."""

    #: clips per batch
    batch_size: int = 32
    #: epochs of float TSM training
    float_epochs: int = 10
    #: epochs of the TSN (no shift) baseline
    tsn_epochs: int = 6
    #: epochs of quantization-aware fine-tuning, starting from the float TSM
    qat_epochs: int = 3
    #: peak learning rate of float training (SGD, momentum 0.9, cosine schedule)
    lr: float = 0.05
    #: peak learning rate of QAT fine-tuning
    qat_lr: float = 0.01
    #: L2 weight decay
    weight_decay: float = 5e-4
    #: batches of the training set used to calibrate activation scales before QAT
    calib_batches: int = 20
    #: before every validation, BatchNorm running statistics are recomputed as the plain average
    #: over this many seeded training batches with the epoch's final weights (the exponential
    #: averages of training lag the weights); 0 = keep the running averages of training
    bn_recal_batches: int = 40
    #: at the end of every phase restore the epoch with the best validation accuracy (later epoch
    #: on ties; recorded as ``selected`` in the report's history); false = keep the last epoch
    select_best_val: bool = True
    #: torch CPU threads (per process; under torchrun divided by the processes of the node)
    threads: int = 2
    #: "auto" (CUDA when present, else CPU), "cpu" or "cuda"
    device: str = "auto"
    #: bfloat16 autocast for the float phases on CUDA (QAT phases always run in float32)
    amp: bool = False


@dataclass
class AlarmConfig:
    """The binary, imbalanced alarm task (item concealed vs put back)."""

    #: train and report the alarm task
    enabled: bool = True
    #: training / validation / test clips
    train_clips: int = 2500
    val_clips: int = 600
    test_clips: int = 1000
    #: fraction of positive (concealed) clips
    positive_fraction: float = 0.2
    #: float and QAT epochs of the alarm model (same backbone config as the main model)
    float_epochs: int = 6
    qat_epochs: int = 2
    #: F-beta used to pick the operating threshold (2 = recall-biased)
    beta: float = 2.0
    #: start the alarm's float TSM from the main task's float TSM (every tensor of the same name
    #: and shape, i.e. the backbone; the 2-class classifier starts fresh); false = from scratch
    init_from_main: bool = False
    #: overrides of the synthetic alarm task's AlarmConfig fields (data.task "camera": CameraAlarmConfig)
    scene: dict = field(default_factory=dict)


@dataclass
class ExportConfig:
    """QONNX step-graph export and its check against torch."""

    #: whole clips run frame by frame through qonnx and compared with torch (>= 16 in reference)
    check_clips: int = 16
    #: |torch - qonnx| on logits above which a frame counts as differing
    tolerance: float = 1e-4
    #: fraction of differing frames (float32 rounding-tie flips, which the temporal shift carries
    #: into the next frames of a clip) above which the export is an error
    max_frames_off: float = 0.1


#: training budgets (``tsmfpga qat --budget NAME``): caps on the config's epoch counts. "full" is the
#: config as written (``make qat``); "demo" is what ``make demo`` trains so that the whole flow fits
#: in 20 minutes on 2 cores. The run says so on screen and records it in its report.
BUDGETS: dict[str, dict[str, int]] = {
    "full": {},
    "demo": {"train.tsn_epochs": 4, "train.float_epochs": 4, "train.qat_epochs": 1,
             "alarm.float_epochs": 3, "alarm.qat_epochs": 1},
}


@dataclass
class QATConfig:
    """Everything `tsmfpga qat` needs."""

    #: config name (file stem)
    name: str = "reference"
    #: training budget (a key of BUDGETS): "full" trains the epochs below as written; "demo" caps
    #: them (see BUDGETS), for ``make demo``
    budget: str = "full"
    #: seed of data generation, initialisation and shuffling
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    alarm: AlarmConfig = field(default_factory=AlarmConfig)
    export: ExportConfig = field(default_factory=ExportConfig)


def _coerce(value, typ, key: str):
    origin = typing.get_origin(typ)
    if dataclasses.is_dataclass(typ):
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r} must be a mapping, got {type(value).__name__}")
        return from_dict(typ, value, key + ".")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key!r} must be a list, got {value!r}")
        return tuple(_coerce(v, typing.get_args(typ)[0], f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        return None if value is None else _coerce(value, args[0], key)
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ in (int, float, str, bool, dict) and not isinstance(value, typ) or (
        typ is int and isinstance(value, bool)
    ):
        raise ConfigError(f"config key {key!r} must be {typ.__name__}, got {value!r}")
    return value


def from_dict(cls, data: dict, prefix: str = ""):
    """Build dataclass ``cls`` from ``data``; unknown keys raise ConfigError naming them."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown config key '{prefix}{unknown[0]}'"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
            + f"; valid keys under {prefix.rstrip('.') or 'the top level'}: {', '.join(sorted(names))}"
        )
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def builtin_configs() -> list[str]:
    folder = importlib.resources.files("tsmfpga.quant") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_config(name_or_path: str) -> QATConfig:
    """Load ``quant/configs/NAME.yaml`` or a YAML file path, validated."""
    path = Path(name_or_path)
    if not path.suffix:
        res = importlib.resources.files("tsmfpga.quant") / "configs" / f"{name_or_path}.yaml"
        if not res.is_file():
            raise ConfigError(
                f"no config named {name_or_path!r}; built-in configs: {', '.join(builtin_configs())} "
                "(or pass a path to a .yaml file)"
            )
        path = Path(str(res))
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    data.setdefault("name", path.stem)
    cfg = from_dict(QATConfig, data)
    validate(cfg)
    return cfg


def apply_budget(cfg: QATConfig) -> dict[str, list[int]]:
    """Cap ``cfg``'s epochs by its budget (in place); returns ``{key: [config, capped]}`` of every
    epoch count the budget lowered (empty for "full" or a config already below the caps)."""
    _check_budget(cfg)
    changed = {}
    for key, cap in BUDGETS[cfg.budget].items():
        section, name = key.split(".")
        part = getattr(cfg, section)
        if getattr(part, name) > cap:
            changed[key] = [getattr(part, name), cap]
            setattr(part, name, cap)
    return changed


def _check_budget(cfg: QATConfig) -> None:
    if cfg.budget not in BUDGETS:
        raise ConfigError(f"budget = {cfg.budget!r}; use one of {', '.join(BUDGETS)}")


def validate(cfg: QATConfig) -> None:
    _check_budget(cfg)
    if cfg.data.task == "camera" and cfg.data.size < 32:
        raise ConfigError(f"data.size = {cfg.data.size}: data.task 'camera' needs data.size >= 32 "
                          "(default 96; set model.input_size to the same value)")
    try:
        cfg.model.validate()
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if cfg.data.task not in ("motion", "camera", "video"):
        raise ConfigError(f"data.task = {cfg.data.task!r}; use 'motion', 'camera' or 'video'")
    if cfg.data.task == "camera":
        for key, cls, over in (("data.motion", camera.CameraConfig, cfg.data.motion),
                               ("alarm.scene", camera.CameraAlarmConfig, cfg.alarm.scene)):
            names = {f.name for f in dataclasses.fields(cls)}
            if set(over) - names:
                raise ConfigError(f"unknown config key '{key}.{sorted(set(over) - names)[0]}' for data.task "
                                  f"'camera'; valid keys: {', '.join(sorted(names))}")
            try:
                cls(**{"T": cfg.data.frames, "size": cfg.data.size, **over}).validate()
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{key} (data.task 'camera'): {exc}") from exc
    if cfg.data.task == "video" and not cfg.data.video_root:
        raise ConfigError("data.task = 'video' needs data.video_root (a dataset folder)")
    if cfg.data.dataset not in ("folders", "ucf101", "hmdb51", "dcsass"):
        raise ConfigError(f"data.dataset = {cfg.data.dataset!r}; use folders, ucf101, hmdb51 or dcsass")
    if not 0 < cfg.data.val_fraction < 1:
        raise ConfigError("data.val_fraction must be between 0 and 1")
    if cfg.data.decode_workers < 0:
        raise ConfigError("data.decode_workers must be >= 0")
    if cfg.train.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"train.device = {cfg.train.device!r}; use auto, cpu or cuda")
    if cfg.model.input_size != cfg.data.size:
        raise ConfigError(f"model.input_size ({cfg.model.input_size}) must equal data.size ({cfg.data.size})")
    for key in ("train_clips", "val_clips", "test_clips", "frames"):
        if getattr(cfg.data, key) < 1:
            raise ConfigError(f"data.{key} must be >= 1")
    if not 0 < cfg.alarm.positive_fraction < 1:
        raise ConfigError("alarm.positive_fraction must be between 0 and 1")
    if cfg.alarm.enabled and cfg.data.task == "motion" and cfg.data.frames < 6:
        raise ConfigError(f"alarm.enabled with data.frames = {cfg.data.frames}: the alarm task's clips need "
                          ">= 6 frames; set data.frames >= 6 or alarm.enabled: false")
    if cfg.train.bn_recal_batches < 0:
        raise ConfigError("train.bn_recal_batches must be >= 0 (0 = no recalibration)")
    if cfg.export.check_clips < 1:
        raise ConfigError("export.check_clips must be >= 1")
