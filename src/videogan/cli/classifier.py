"""`videogan classifier train|accuracy`: the built-in dataset's shape and motion classifier."""
from __future__ import annotations

import json

import torch

from ..eval.classifier import ClassifierConfig, load_classifier, save_classifier
from ..eval.classifier_train import TRAIN_SEED, accuracy, train_builtin_classifier


def _train(args) -> None:
    recipe = {"iterations": args.iterations, "batch_size": args.batch_size, "train_videos": args.train_videos,
              "seed": args.seed, "train_seed": TRAIN_SEED, "torch": str(torch.__version__)}
    model = train_builtin_classifier(args.iterations, args.batch_size, args.train_videos, args.seed,
                             ClassifierConfig(width=args.width))
    recipe["held_out"] = accuracy(model, args.n)
    sha = save_classifier(args.out, model, recipe)
    print(json.dumps(recipe, indent=2))
    print(f"wrote {args.out} (sha256 of the weights {sha})")


def _accuracy(args) -> None:
    print(json.dumps(accuracy(load_classifier(args.weights), args.n, max_objects=args.max_objects,
                              object_scale=args.object_scale), indent=2))


def register(subparsers) -> None:
    parser = subparsers.add_parser("classifier", help="the built-in dataset's shape and motion classifier "
                                                      "(for the builtin_score metric)")
    commands = parser.add_subparsers(dest="classifier_command", required=True, metavar="COMMAND")
    train = commands.add_parser("train", help="retrain it reproducibly (fixed data, seed and iterations)")
    train.add_argument("--out", required=True, help="weights file to write (the shipped one: "
                                                    "src/videogan/eval/builtin_classifier.pt)")
    train.add_argument("--iterations", type=int, default=3000)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--train-videos", type=int, default=8192, help="size of the fixed training pool")
    train.add_argument("--width", type=int, default=ClassifierConfig.width, help="channels of the first layer")
    train.add_argument("--seed", type=int, default=0, help="seed of the initialisation, batches and augmentation")
    train.add_argument("--n", type=int, default=1024, help="held-out videos to measure it on")
    train.set_defaults(func=_train)
    measure = commands.add_parser("accuracy", help="its accuracy on held-out built-in videos")
    measure.add_argument("--weights", default=None, help="weights file (default: the shipped ones)")
    measure.add_argument("--n", type=int, default=1024, help="held-out videos")
    measure.add_argument("--max-objects", type=int, default=3, help="held-out videos' objects (1..max; trained on 3)")
    measure.add_argument("--object-scale", type=float, default=1.0,
                         help="held-out videos' object radius factor (trained on 1: larger objects are unseen)")
    measure.set_defaults(func=_accuracy)
