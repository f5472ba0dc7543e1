"""Constants of the MarsRetrieval evaluation protocol (the published protocol).

Every number a leaderboard result depends on lives here, once. The protocol document,
leaderboard/PROTOCOL.md, states the facts these encode and where each is used.
"""

from __future__ import annotations

# Prompt ensemble for text queries of tasks 2 and 3: embed each, L2-normalise each,
# average, L2-normalise the mean.
PROMPT_TEMPLATES = (
    "a photo of {}, a type of martian terrain",
    "a satellite photo of {}.",
    "a high-resolution remote sensing image of {} on Mars.",
)

# Task 1: images are resized so the shorter side is 512 px, centre-cropped to 512x512
# and stored as JPEG at quality 95 before the model's own preprocessing, as the
# published download step does (mars_zoo.data.images).
PAIRED_IMAGE_SIZE = 512
PAIRED_JPEG_QUALITY = 95
PAIRED_CAPTION_COLUMNS = ("refined_caption", "ori_caption")
PAIRED_DEFAULT_CAPTION = "refined_caption"
# Task 1 can also be measured as MTEB's tasks measure it (mars_zoo.tasks.mteb_protocol); the first is
# the default and the leaderboard's reference.
PAIRED_PROTOCOLS = ("marsretrieval", "mteb")

# Task 3.
GEO_LANDFORMS = ("alluvial_fans", "glacier-like_form", "landslides", "pitted_cones", "yardangs")
GEO_QUERY_MODES = ("text", "image", "hybrid")
GEO_K_MAX = 20_000
GEO_RADIUS_DEG = 0.5
# The published evaluator measures distances in pixels of its 2644 x 1322 world map,
# offset by (158, 68): x = (lon + 180) / 360 * W + 158, y = (90 - lat) / 180 * H + 68,
# radius 0.5 * W / 360 px. Its floating-point rounding decides points lying exactly
# 0.5 degrees from a tile, so the metrics use the same arithmetic.
GEO_MAP_WIDTH_PX = 2644
GEO_MAP_HEIGHT_PX = 1322
GEO_MAP_SHIFT_X_PX = 158
GEO_MAP_SHIFT_Y_PX = 68
GEO_CURVE_POINTS = 100
GEO_HYBRID_TEMPERATURE = 0.1
GEO_HYBRID_IMAGE_WEIGHT = 0.3
GEO_HYBRID_TEXT_WEIGHT = 0.7
GEO_TILE_DEG = 0.2
GEO_TILE_WIDTH_PX = 512
GEO_MAX_ABS_LAT = 80.0


def paired_row_kept(ori_caption: str | None, refined_caption: str | None) -> bool:
    """Task 1 row rule of the published download step: a row is evaluated only when both
    captions are non-empty, whichever one is evaluated; a caption of only whitespace is
    not empty."""
    return bool(ori_caption) and bool(refined_caption)


def landform_query_name(class_name: str) -> str:
    """Task 2 query text: every '_' and every '-' becomes a space."""
    return class_name.replace("_", " ").replace("-", " ")


def geo_query_name(landform: str) -> str:
    """Task 3 query text: only '_' becomes a space ('glacier-like' keeps its hyphen)."""
    return landform.replace("_", " ")


def prompts_for(concept: str) -> list[str]:
    return [template.format(concept) for template in PROMPT_TEMPLATES]


def ensemble_of(text: str) -> list[str] | None:
    """The prompt ensemble `text` belongs to (`prompts_for` of its concept), or None
    when `text` is none of the protocol's prompts. The published code embeds the three
    prompts of a concept as one batch; an embedder whose output depends on what shares
    its batch uses this to do the same."""
    for template in PROMPT_TEMPLATES:
        prefix, _, suffix = template.partition("{}")
        concept = text[len(prefix) : len(text) - len(suffix)]
        if concept and text == prefix + concept + suffix:
            return prompts_for(concept)
    return None
