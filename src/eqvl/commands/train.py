"""`eqvl train`: fine-tune an open_clip model with itc / eqsim / ce / hardpos (torchrun-ready).

Flags are generated, never listed here: one per `TrainConfig` field (help from the field's
metadata; `--batch-size` sets `batch_size`, booleans take `--x / --no-x`) and one per option a
loss term declares (`--eqsim-beta` from EqSim's `LossOption("beta", ...)`), ranges checked at
parse time from the same declarations.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from dataclasses import MISSING, fields

from eqvl.commands.common import Bounded, finite_float, flag_message
from eqvl.errors import EqvlError
from eqvl.losses import LossOption, all_loss_options, available_losses
from eqvl.train.config import RANGES, TrainConfig, check_range

def _base_type(tp: typing.Any) -> typing.Any:
    """`X | None` -> X; anything else (list[str] included) as it is."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if args else tp
    return tp


class _Ranged(Bounded):
    """A numeric TrainConfig field checked at parse time against its `RANGES` entry (the one table),
    with the same one-line message as `TrainConfig.validate`."""

    def __init__(self, name: str, kind: type) -> None:
        lo, hi, lo_open = RANGES[name]
        super().__init__(kind, lo, hi, lo_open=lo_open, hi_open=hi is not None)
        self.name = name

    def __call__(self, text: str) -> typing.Any:
        value = self.parse(text)
        try:
            check_range(self.name, value, RANGES[self.name])
        except EqvlError as exc:
            raise argparse.ArgumentTypeError(flag_message(exc)) from None
        return value


class _OptionType(Bounded):
    """A loss term's declared option, parsed and range-checked by its own declaration."""

    def __init__(self, key: str, opt: LossOption) -> None:
        super().__init__(opt.type if opt.type in (int, float) else float, opt.low, opt.high, lo_open=opt.low_open)
        self.key, self.opt = key, opt
        self.__name__ = opt.type.__name__

    def __call__(self, text: str) -> typing.Any:
        value = self.parse(text) if self.opt.type in (int, float) else text
        try:
            self.opt.check(self.key, value)
        except EqvlError as exc:
            raise argparse.ArgumentTypeError(flag_message(exc)) from None
        return value


def _help(text: str) -> str:
    return text.replace("%", "%%").replace("{losses}", ", ".join(available_losses()))


def _add_loss_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("loss term options (declared by each term in eqvl.losses)")
    for key, opt in all_loss_options().items():
        metavar = "{" + ",".join(opt.choices) + "}" if opt.choices else opt.type.__name__.upper()
        group.add_argument("--" + key.replace("_", "-"), dest=key, type=_OptionType(key, opt), default=opt.default,
                           metavar=metavar, help=_help(opt.help))


#: open_clip trainer's spellings of eqvl flags, accepted as they are (shown in --help beside eqvl's)
OPEN_CLIP_NAMES = {"save_every_epochs": ["--save-frequency"], "log_every": ["--log-every-n-steps"]}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="fine-tune a model with equivariance / compositional losses",
                              description=__doc__)
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        flags = ["--" + f.name.replace("_", "-"), *OPEN_CLIP_NAMES.get(f.name, [])]
        tp = _base_type(hints[f.name])
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = None
        if f.name == "loss_options":
            continue  # one flag per declared option, below
        h = _help(f.metadata["help"])
        if tp is bool:
            h = f"{h} (default: {'on' if default else 'off'})"
            action = _SkipBad if f.name == "skip_bad" else argparse.BooleanOptionalAction
            p.add_argument(*flags, dest=f.name, action=action, default=default, help=h)
        elif typing.get_origin(tp) is dict:  # open_clip's --aug-cfg KEY=VALUE ...
            p.add_argument(*flags, dest=f.name, nargs="*", action=_KeyValues, default={}, metavar="KEY=VALUE", help=h)
        elif typing.get_origin(tp) is list and typing.get_args(tp) == (float,):  # open_clip's --image-mean R G B
            p.add_argument(*flags, dest=f.name, nargs="+", type=finite_float(0, 1), default=None, metavar="X", help=h)
        elif typing.get_origin(tp) is list:
            p.add_argument(*flags, dest=f.name, action="append", default=None, help=h)
        else:
            kind = _Ranged(f.name, tp) if f.name in RANGES else tp  # every number has a declared range
            p.add_argument(*flags, dest=f.name, type=kind, default=default, help=h,
                           required=f.name == "train_data")
    _add_loss_options(p)
    # open_clip's --delete-previous-checkpoint is --keep-last 1
    p.add_argument("--delete-previous-checkpoint", dest="keep_last", action="store_const", const=1,
                   default=argparse.SUPPRESS, help="open_clip's spelling of --keep-last 1 (default: off)")
    _add_open_clip_flags(p)
    p.add_argument("--strict-data", dest="skip_bad", action="store_false", help=argparse.SUPPRESS)  # old name
    p.set_defaults(func=run, lr=None)  # None: eqvl.train.defaults picks a fine-tuning or a from-scratch rate


class _KeyValues(argparse.Action):
    """open_clip's ParseKwargs for --aug-cfg: KEY=VALUE items (Python literals), checked at parse time."""

    def __call__(self, parser, namespace, values, option_string=None):
        from eqvl.train.augcfg import parse_aug_cfg

        try:
            setattr(namespace, self.dest, parse_aug_cfg(list(values or [])))
        except EqvlError as exc:
            parser.error(flag_message(exc))


class _SkipBad(argparse.BooleanOptionalAction):
    """`--skip-bad` (skip bad rows) is train's default; before issue 26.7 it also decoded every image
    first, which is `--check-images` now: an explicit `--skip-bad` without it gets a one-line note."""

    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, values, option_string)
        namespace.skip_bad_given = option_string == "--skip-bad"


#: what an explicit --skip-bad says in train (old scripts used it to decode every image before the first step)
SKIP_BAD_NOTE = ("eqvl train: note: --skip-bad (skip and count bad rows) is train's default; it no longer decodes "
                 "every image before the first step: add --check-images for that")


#: open_clip trainer flags eqvl replaces: the message says what to use instead
REPLACED = {"--name": "the run folder is --output DIR (open_clip's --logs/--name together)",
            "--logs": "the run folder is --output DIR (open_clip's --logs/--name together)",
            "--zeroshot-frequency": "eqvl evaluates benchmarks, not ImageNet zero-shot: --eval-benchmark NAME:PATH "
                                    "with --eval-every-epochs N",
            "--imagenet-val": "eqvl evaluates benchmarks, not ImageNet zero-shot: --eval-benchmark NAME:PATH "
                              "(e.g. retrieval:/data/coco) with --eval-every-epochs N"}


class _Replaced(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is open_clip's; in eqvl {REPLACED[option_string or '']}")


def _add_open_clip_flags(p: argparse.ArgumentParser) -> None:
    """open_clip flags accepted with open_clip's meaning, or pointed at their replacement."""
    g = p.add_argument_group("open_clip's spellings")
    g.add_argument("--siglip", action="store_true",
                   help="open_clip's switch to the sigmoid loss: the itc term of --loss becomes siglip "
                        "(--siglip --loss itc+eqsim trains siglip+eqsim) (default: off)")
    for flag in ("--local-loss", "--gather-with-grad"):
        g.add_argument(flag, action="store_true", dest=flag[2:].replace("-", "_"),
                       help="accepted for open_clip scripts: eqvl always gathers features with gradient and each "
                            "process computes its own rows against the global batch, which is what open_clip does "
                            "with --local-loss --gather-with-grad (default: that behaviour, always)")
    for flag in REPLACED:
        g.add_argument(flag, action=_Replaced, nargs="?", help=argparse.SUPPRESS)


def siglip_loss_spec(loss: str) -> str:
    """open_clip's --siglip on an eqvl --loss: itc -> siglip (siglip added first when there is no itc)."""
    terms = [("siglip" if t == "itc" else t) for t in loss.split("+")]
    return "+".join(terms if "siglip" in terms else ["siglip", *terms])


def run(args: argparse.Namespace) -> int:
    from eqvl.train import train

    if args.siglip:
        args.loss = siglip_loss_spec(args.loss)
    if getattr(args, "skip_bad_given", False) and not args.check_images:
        print(SKIP_BAD_NOTE, file=sys.stderr)

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name != "loss_options"}
    values["eval_benchmark"] = values["eval_benchmark"] or []
    values["loss_options"] = {key: getattr(args, key) for key in all_loss_options()}
    cfg = TrainConfig(**values)
    cfg.validate()  # every flag's range, before anything is built
    result = train(cfg)
    if result.final_checkpoint is not None and result.output_dir:
        last = next((r for r in reversed(result.metrics) if "loss" in r), None)
        tail = f", last loss {last['loss']:.4f}" if last else ""
        skipped = (f" ({result.skipped} skipped as non-finite, {result.steps - result.skipped} applied)"
                   if result.skipped else "")
        print(f"trained {result.steps} steps{skipped}{tail}; checkpoint: {result.final_checkpoint}; "
              f"metrics: {result.output_dir / 'metrics.jsonl'}")
    return 0
