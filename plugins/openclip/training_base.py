"""A registered OpenCLIP model as a folder open_clip's own factory reads (`local-dir:`), so
that `mars-zoo finetune` trains, through open_clip_train, exactly the model this plugin
evaluates.

The folder holds `open_clip_config.json` (the architecture, and the preprocessing the
loaded model carries) and `open_clip_model.safetensors` (the weights this plugin loaded:
the seeded random ones, the tag's, the Hub repository's at the pinned revision). A model
open_clip builds from it has the plugin's architecture, weights, evaluation transform and
tokenizer (an HF tokenizer kept in the model's own repository is pinned to the same
revision), so the weights it trains mean the same thing when `mars-zoo run MODEL
--weights DIR` loads them into the plugin's model.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from mars_zoo import ModelSpec
from mars_zoo_openclip.encoder import (
    HF_HUB,
    TINY_CONFIG,
    _hub_download,
    _quiet_open_clip,
    hub_weights,
    load_encoder,
    split_checkpoint,
)

CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"


def model_config(spec: ModelSpec) -> dict:
    """The open_clip model config (`model_cfg`) the plugin builds `spec` from."""
    import open_clip
    from open_clip.constants import HF_CONFIG_NAME

    architecture, _ = split_checkpoint(spec.checkpoint)
    if spec.random_weights:
        return json.loads(TINY_CONFIG.read_text(encoding="utf-8"))
    if not architecture.startswith(HF_HUB):
        return copy.deepcopy(open_clip.get_model_config(architecture))
    repo, _ = hub_weights(spec)
    config = json.loads(Path(_hub_download(spec, repo, (HF_CONFIG_NAME,))).read_text(encoding="utf-8"))
    model_cfg = config["model_cfg"]
    text_cfg = model_cfg.get("text_cfg", {})
    if text_cfg.get("hf_tokenizer_name") == repo:  # read at the model's revision, as the plugin reads it
        text_cfg["tokenizer_kwargs"] = {**text_cfg.get("tokenizer_kwargs", {}), "revision": spec.revision}
    return model_cfg


def export_base(spec: ModelSpec, folder: Path) -> dict:
    """Write `spec`'s model into `folder` (see the module's docstring); returns the config written."""
    import open_clip
    from safetensors.torch import save_file

    with _quiet_open_clip():
        encoder = load_encoder(spec, "cpu", "fp32")
    config = {"model_cfg": model_config(spec),
              "preprocess_cfg": dict(open_clip.get_model_preprocess_cfg(encoder.model))}
    folder.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().contiguous() for name, tensor in encoder.model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return config
