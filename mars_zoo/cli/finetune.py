"""`mars-zoo finetune MODEL --train DATA --out DIR`: fine-tune an OpenCLIP model with open_clip_train."""

from __future__ import annotations

import argparse

from mars_zoo.cli.commands import add_command
from mars_zoo.cli.options import (
    MAX_COUNT, MAX_WORKERS, absolute_path, add_cache_dir_option, add_data_options, add_plugins_dir_option,
    add_seed_option, add_training_data_options, int_between, number_between,
)
from mars_zoo.core.errors import MarsZooError

PRECISIONS = ("amp", "amp_bf16", "bf16", "fp16", "pure_bf16", "pure_fp16", "fp32")  # open_clip_train's


def register(subparsers) -> None:
    parser = add_command(subparsers, "finetune", run_finetune)
    parser.add_argument("model", help="the base model, e.g. openclip/tiny-random")
    parser.add_argument("--train", required=True, metavar="DATA",
                        help="training pairs: 'mini' (the mini benchmark's synthetic training split), a Hub dataset "
                        "id, or a local parquet dataset, parquet file or WebDataset tar shards")
    parser.add_argument("--out", type=absolute_path, required=True, metavar="DIR",
                        help="the weights folder to write (must not exist yet, or be empty)")
    add_training_data_options(parser)
    parser.add_argument("--epochs", type=int_between(1, 100_000), default=10, help="default: %(default)s")
    parser.add_argument("--lr", type=number_between(0, low_open=True), default=None,
                        help="peak learning rate (default: 1e-5; 5e-4 for a random-weight model)")
    parser.add_argument("--batch-size", type=int_between(1, MAX_COUNT), default=64,
                        help="pairs per step on each rank; default: %(default)s")
    parser.add_argument("--warmup", type=int_between(0, MAX_COUNT), default=None, metavar="STEPS",
                        help="steps of linear warm-up before the cosine schedule (default: 10%% of the steps)")
    parser.add_argument("--wd", type=number_between(0), default=0.2, help="weight decay; default: %(default)s")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="open_clip_train's precision (default: amp on CUDA, fp32 on the CPU)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N; "
                        "default: %(default)s")
    parser.add_argument("--workers", type=int_between(0, MAX_WORKERS), default=None,
                        help="DataLoader workers per rank (default: 0 on the CPU; on CUDA up to 8)")
    add_seed_option(parser)
    parser.add_argument("--lock-image", action="store_true", help="freeze the image tower")
    parser.add_argument("--lock-text", action="store_true", help="freeze the text tower")
    parser.add_argument("--grad-checkpointing", action="store_true",
                        help="recompute activations in the backward pass: less memory, more time")
    parser.add_argument("--val-split", type=number_between(0, 1, high_open=True), default=0.0, metavar="FRACTION",
                        help="hold out this fraction of the pairs (chosen by --seed) and report their retrieval "
                        "R@1 after every epoch; default: %(default)s (train on every pair)")
    parser.add_argument("--allow-contaminated", action="store_true",
                        help="train even on data that holds benchmark items (recorded in the training record)")
    parser.add_argument("--log-every", type=int_between(1, MAX_COUNT), default=10, metavar="STEPS",
                        help="steps between progress reports; default: %(default)s")
    add_data_options(parser, None, "mini for --train mini, else marsretrieval (the benchmark DATA is checked against)")
    parser.add_argument("--nproc", type=int_between(1), default=None, metavar="N",
                        help="train with N processes on this machine (torchrun; one GPU each on CUDA)")
    add_cache_dir_option(parser, "the benchmark's fingerprints, the pairs written for open_clip_train, the "
                         "working folders of unfinished runs, the mini benchmark and its training split")
    add_plugins_dir_option(parser)
    parser.set_defaults(handler=run_finetune)


def run_finetune(args: argparse.Namespace) -> int:
    """fine-tune an OpenCLIP model on image-text pairs (open_clip_train)

    Fine-tune MODEL (an OpenCLIP model of 'mars-zoo list') on the image-text pairs of DATA with
    open_clip_train, open_clip's own training engine, and write the weights and their training
    record into DIR, which 'mars-zoo run MODEL --weights DIR' evaluates as is. DATA is first checked
    against every benchmark item a score depends on, and refused when it holds any. The same command
    run again after a kill resumes from the last finished epoch. Several GPUs: --nproc N, or torchrun
    ... -m mars_zoo finetune ... on each machine.
    """
    from mars_zoo.adapt.finetune import FinetuneConfig, finetune
    from mars_zoo.cli.run import rank_command
    from mars_zoo.embedding.distributed import environment_ranks, launch
    from mars_zoo.models.registry import load_registry
    from rich.markup import escape

    from mars_zoo.core.reporting import Reporter, RichReporter, console, print_paragraph

    ranks = environment_ranks()
    if args.nproc is not None:
        if ranks.distributed:
            raise MarsZooError("--nproc starts torchrun itself; under torchrun, drop --nproc.")
        return launch(args.nproc, rank_command(args.argv), args.cache_dir,
                      resume="Fix: rerun the same command to resume from the last finished epoch.")
    reporter = RichReporter() if ranks.leader else Reporter()
    registry = load_registry(args.plugins_dir, reporter)
    config = FinetuneConfig(
        model=args.model, train=args.train, out=args.out, image_column=args.image_column,
        caption_column=args.caption_column, train_revision=args.train_revision, epochs=args.epochs, lr=args.lr,
        batch_size=args.batch_size, warmup=args.warmup, wd=args.wd, precision=args.precision, device=args.device,
        workers=args.workers, seed=args.seed, lock_image=args.lock_image, lock_text=args.lock_text,
        grad_checkpointing=args.grad_checkpointing, val_split=args.val_split,
        allow_contaminated=args.allow_contaminated, log_every=args.log_every, benchmark=args.benchmark,
        data_dir=args.data_dir, tiles_dir=args.tiles_dir, revisions=dict(args.revisions), cache_dir=args.cache_dir,
    )
    out = finetune(config, registry, reporter, ranks)
    if out is not None:
        print_paragraph(console, escape(f"weights written to {out}; evaluate them with: mars-zoo run {args.model} "
                                        f"--weights {out}"))
    return 0
