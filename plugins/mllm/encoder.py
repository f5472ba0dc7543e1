"""The shared MLLM encoder: prompts through the recipe, batches by similar length,
runs the model, pools the right position.

A harness batch is split into groups of items of similar prompt length (texts) or
pixel count (images), so that a short caption is never padded to the longest one;
embeddings come back in the caller's order.

A recipe that keeps the checkpoint's padding side (`padding_side=None`) may read a
padding token (pooling "last" with right padding), so its embeddings depend on what
shares a batch. It is batched as the published code batches: the three prompts of a
protocol prompt ensemble together, every other item in a batch without padding (equal
token counts, equal image sizes), which equals the published one item per batch.
"""

from __future__ import annotations

from typing import Any, Hashable, NamedTuple, Sequence

import torch

from mars_zoo import Encoder
from mars_zoo.core.protocol import ensemble_of
from mars_zoo_mllm.recipe import Recipe

# A group grows while its largest item costs at most this much more than its smallest.
GROUP_TOLERANCE = 1.25


def length_groups(costs: Sequence[float], tolerance: float = GROUP_TOLERANCE) -> list[list[int]]:
    """Indices of `costs` sorted ascending and cut into groups whose largest cost is
    at most `tolerance` times the smallest (equal costs always share a group)."""
    order = sorted(range(len(costs)), key=lambda i: costs[i])
    groups: list[list[int]] = []
    for index in order:
        if groups and costs[index] <= tolerance * costs[groups[-1][0]]:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def equal_groups(keys: Sequence[Hashable]) -> list[list[int]]:
    """Indices of `keys` grouped by equal key, in order of first appearance."""
    groups: dict[Hashable, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return list(groups.values())


class Batch(NamedTuple):
    """One forward pass: embed `items`, and write the rows `picks` of the result to the
    caller's rows `rows` (a prompt ensemble is embedded whole for the members asked)."""

    rows: list[int]
    items: list[Any]
    picks: list[int]


def whole(rows: list[int], items: Any) -> Batch:
    """A batch of the caller's `rows`, whose items are `items[row]` (a sequence or a
    mapping by row)."""
    return Batch(rows, [items[row] for row in rows], list(range(len(rows))))


def ensemble_batches(texts: Sequence[str]) -> tuple[list[Batch], list[int]]:
    """A batch for each protocol prompt ensemble that `texts` hold members of (all three
    prompts, in the protocol's order), and the rows of the other texts."""
    ensembles: dict[tuple[str, ...], list[int]] = {}
    others = []
    for row, text in enumerate(texts):
        ensemble = ensemble_of(text)
        if ensemble is None:
            others.append(row)
        else:
            ensembles.setdefault(tuple(ensemble), []).append(row)
    batches = [
        Batch(rows, list(ensemble), [ensemble.index(texts[row]) for row in rows])
        for ensemble, rows in ensembles.items()
    ]
    return batches, others


def vision_span(input_ids: torch.Tensor, start_id: int, end_id: int) -> torch.Tensor:
    """A mask [B, L] that holds each row's vision-start token, its vision-end token and
    every image token between them (one image per row)."""
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    start = (input_ids == start_id).int().argmax(dim=1, keepdim=True)
    end = (input_ids == end_id).int().argmax(dim=1, keepdim=True)
    return ((positions >= start) & (positions <= end)).long()


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per row of `hidden` [B, L, D]; "mean" averages over `attention_mask`."""
    if pooling == "last":
        return hidden[:, -1]
    if pooling == "last_non_pad":
        last = attention_mask.sum(dim=1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1)


class MllmEncoder(Encoder):
    """An MLLM embedder following a `Recipe`. Takes PIL images (the processor
    resizes them to a variable number of patches, so there is no fixed-size
    tensor transform for DataLoader workers) and strings."""

    group_tolerance = GROUP_TOLERANCE  # infinity: one group per harness batch

    def __init__(self, model: Any, processor: Any, recipe: Recipe, device: str,
                 loaded_image_size: Any = None) -> None:
        """`loaded_image_size`: the pixel limits `processor` was loaded with, where they are not
        `recipe.image_size` (an instructed recipe's: its images are processed with its own)."""
        self.model = model.eval()
        self.processor = processor
        self.recipe = recipe
        self.device = device
        self.loaded_image_size = recipe.image_size if loaded_image_size is None else loaded_image_size
        if recipe.padding_side is not None:
            processor.tokenizer.padding_side = recipe.padding_side

    def with_instruction(self, instruction: str) -> "MllmEncoder":
        """The same model as its MTEB wrapper runs it when handed `instruction` (`Recipe.instructed`)."""
        return MllmEncoder(self.model, self.processor, self.recipe.instructed(instruction), self.device,
                           self.loaded_image_size)

    def text_prompts(self, texts: Sequence[str]) -> list[str]:
        return [self.recipe.text_prompt.render(self.processor, text) for text in texts]

    def image_prompt(self) -> str:
        return self.recipe.image_prompt.render(self.processor)

    def prepare_image(self, image: Any) -> Any:
        """RGB (unless the recipe leaves that to the processor), then the recipe's small-image
        rule and PIL resize if it has them."""
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

        if self.recipe.convert_rgb:
            image = image.convert("RGB")
        if self.recipe.small_image is not None and min(image.size) < self.recipe.small_image[0]:
            size = self.recipe.small_image[1]
            image = image.resize((size, size))  # PIL's default resampling, as the published code
        resize = self.recipe.image_resize
        if resize is None:
            return image
        height, width = smart_resize(
            image.height, image.width, resize.factor, resize.min_pixels, resize.max_pixels
        )
        return image.resize((width, height))

    def inputs(self, prompts: Sequence[str], images: Sequence[Any] | None = None) -> dict[str, Any]:
        """The processor's whole output for one group, on the device."""
        kwargs: dict[str, Any] = {"padding": True, "return_tensors": "pt"}
        if self.recipe.max_length is not None:
            kwargs.update(truncation=True, max_length=self.recipe.max_length)
        if images is not None:
            kwargs["images"] = list(images)
            resize = self.recipe.image_resize
            if resize is not None and not resize.processor_resizes:
                kwargs["do_resize"] = False
            if self.recipe.image_size and self.recipe.image_size != self.loaded_image_size:
                kwargs["size"] = dict(self.recipe.image_size)
        batch = self.processor(text=list(prompts), **kwargs)
        return {key: value.to(self.device) for key, value in batch.items()}

    def embed(self, prompts: Sequence[str], images: Sequence[Any] | None = None) -> torch.Tensor:
        inputs = self.inputs(prompts, images)
        hidden = self.recipe.hidden_states(self.model, inputs)
        pooling, mask = self.recipe.pooling, inputs["attention_mask"]
        if images is not None and self.recipe.image_pooling is not None:
            pooling = self.recipe.image_pooling
        if pooling == "vision_span":
            config = self.model.config
            pooling, mask = "mean", vision_span(inputs["input_ids"], config.vision_start_token_id, config.vision_end_token_id)
        return pool(hidden, mask, pooling).float()

    def _run(self, count: int, batches: Sequence[Batch], embed) -> torch.Tensor:
        """[count, D]: each batch's items embedded by `embed` in one forward pass, its
        picked rows written to the caller's rows."""
        out: torch.Tensor | None = None
        for batch in batches:
            vectors = embed(batch.items)[batch.picks]
            if out is None:
                out = vectors.new_empty((count, vectors.shape[1]))
            out[batch.rows] = vectors
        return out

    def text_batches(self, texts: Sequence[str]) -> list[Batch]:
        """The prompts of `texts` in groups of similar length; with the checkpoint's
        padding side, batched as the published code batches (see the module docstring)."""
        if self.recipe.padding_side is not None:
            prompts = self.text_prompts(texts)
            return [whole(rows, prompts) for rows in length_groups([len(p) for p in prompts], self.group_tolerance)]
        ensembles, others = ensemble_batches(texts)
        batches = [batch._replace(items=self.text_prompts(batch.items)) for batch in ensembles]
        if others:
            prompts = dict(zip(others, self.text_prompts([texts[row] for row in others])))
            lengths = [len(ids) for ids in self.processor.tokenizer([prompts[row] for row in others])["input_ids"]]
            batches += [whole([others[i] for i in group], prompts) for group in equal_groups(lengths)]
        return batches

    def image_batches(self, images: Sequence[Any]) -> list[Batch]:
        """Groups of similar pixel count; with the checkpoint's padding side, of equal
        size (equal token counts: no padding)."""
        if self.recipe.padding_side is not None:
            groups = length_groups([image.width * image.height for image in images], self.group_tolerance)
        else:
            groups = equal_groups([image.size for image in images])
        return [whole(rows, images) for rows in groups]

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        return self._run(len(texts), self.text_batches(texts), self.embed)

    def encode_image(self, images: Sequence[Any]) -> torch.Tensor:
        prepared = [self.prepare_image(image) for image in images]
        prompt = self.image_prompt()
        return self._run(len(prepared), self.image_batches(prepared), lambda items: self.embed([prompt] * len(items), items))
