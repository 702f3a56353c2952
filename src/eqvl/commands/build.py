"""`eqvl build`: make EqBen-style twin benchmarks from video annotations, SD-style caption pairs,
and screen the result by hand (`eqvl build review`)."""

from __future__ import annotations

import argparse
import time

from eqvl.commands.common import (add_device_flag, add_output_flag, add_progress_flag, int_range, nonneg_float,
                                   nonneg_int, port, positive_int)


def _names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _band(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH like 0.5,0.97, got {text!r}") from None
    if not -1.0 <= lo <= hi <= 1.0:  # cosine similarities; also refuses nan
        raise argparse.ArgumentTypeError(f"must be two cosines -1 <= LOW <= HIGH <= 1, got {text!r}")
    return lo, hi


def _common(p: argparse.ArgumentParser) -> None:
    add_output_flag(p, dest="out", required=True, metavar="DIR", help="output folder (twins.jsonl, images/, manifest.json)")
    p.add_argument("--workers", type=nonneg_int, default=1, help="processes extracting frames, 0 = in this process "
                   "(default: 1, which also extracts in this process; the output is identical for any value)")
    p.add_argument("--image-format", default="jpg", choices=("jpg", "png"), help="frame image format (default jpg)")
    p.add_argument("--skip-bad", action="store_true", help="skip (and count) missing / undecodable videos and bad timestamps instead of failing")
    p.add_argument("--overwrite", action="store_true", help="replace an existing build folder")
    p.add_argument("--resume", action="store_true", help="finish an interrupted build; finished videos are not redone")
    p.add_argument("--export", type=_names, default=(), metavar="FORMAT", help="also export: eqben (EqBen's official layout)")
    p.add_argument("--format", default="folder", choices=("folder", "webdataset"),
                   help="folder (images/ + twins.jsonl, default) or webdataset (also tar shards of image + caption + metadata)")
    p.add_argument("--scene-filter", action="store_true",
                   help="drop twins whose two frames lie in different shots (PySceneDetect's ContentDetector; frames addressed by time)")
    p.add_argument("--shard-size", type=positive_int, default=1000, help="twins per webdataset tar shard (default 1000)")
    p.add_argument("--dedup-bits", type=int_range(-1, 64), default=2, help="dHash near-duplicate threshold in bits of 64, -1 = off (default 2)")
    p.add_argument("--duplicate-scope", default="video", choices=("video", "build"),
                   help="drop a twin whose two pictures already form a kept twin of the same video (and AG object; default) or anywhere in the build")
    p.add_argument("--screen-model", default=None, help="screen pairs with this encoder's image-image similarity (any eqvl model)")
    p.add_argument("--screen-pretrained", default=None, help="weights of --screen-model: open_clip tag, checkpoint, or none")
    p.add_argument("--sim-band", type=_band, default=(0.5, 0.97), metavar="LOW,HIGH", help="keep twins with cosine in [LOW, HIGH] (default 0.5,0.97)")
    add_device_flag(p)
    add_progress_flag(p)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("build", help="build twin benchmarks from video annotations (EqBen's natural subsets), SD pairs, review page",
                              description="Build EqBen-style visual-minimal twins from Action Genome, GEBC and YouCook2 annotations "
                              "(EqBen appendix B), EQ-SD-style caption pairs, and review them by hand.")
    sub = p.add_subparsers(dest="build_command", metavar="SOURCE")
    sub.required = True

    ag = sub.add_parser("ag", help="Action Genome scene graphs -> EQ-AG twins")
    ag.add_argument("--annotations", required=True, help="AG annotations/ folder (pickles + *_classes.txt)")
    src = ag.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", help="pre-extracted frames folder (frames/<ID>.mp4/<%%06d>.png)")
    src.add_argument("--videos", help="Charades videos folder (<ID>.mp4)")
    ag.add_argument("--split", default="all", choices=("all", "train", "test"), help="AG metadata set to use (default all)")
    _common(ag)
    ag.set_defaults(func=run_ag)

    gebc = sub.add_parser("gebc", help="GEBC / Kinetics-GEB+ boundaries -> EQ-GEBC twins")
    gebc.add_argument("--annotations", required=True, help="GEBC annotation JSON ({train,val,test}.json)")
    gebc.add_argument("--videos", required=True, help="Kinetics clips folder (<class>/<ytid>_<start>_<end>.mp4 or <ytid>.mp4)")
    gebc.add_argument("--gap", type=positive_int, default=2, help="pair the segment before boundary i with the one after boundary i+gap-1 (paper: 2)")
    gebc.add_argument("--motion-words", type=_names, default=None, help="comma list; captions with these words, in any form (up: upward, upwards), are dropped (default: up,down,upward,downward,towards)")
    _common(gebc)
    gebc.set_defaults(func=run_gebc)

    yc = sub.add_parser("youcook2", help="YouCook2 segments -> EQ-YouCook2 twins (face filter)")
    yc.add_argument("--annotations", required=True, help="youcookii_annotations_trainval.json")
    yc.add_argument("--videos", required=True, help="raw_videos/ folder (<split>/<recipe>/<id>.<mp4|mkv|webm>)")
    yc.add_argument("--pairs", default="all", choices=("all", "consecutive"),
                    help="which segments of a video to pair (default all: the count EqBen reports needs every pair)")
    yc.add_argument("--split", default="all", choices=("all", "training", "validation"), help="subset to use (default all)")
    yc.add_argument("--no-face-filter", action="store_true", help="keep frames that show a human face")
    _common(yc)
    yc.set_defaults(func=run_youcook2)

    cp = sub.add_parser("captions", help="your own videos with timed captions -> twins (YouCook2's rule)",
                        description="Any video with timed captions (one caption per time span) becomes twins by YouCook2's "
                        "rule: the middle frame of each span, pairs of spans within a video, the same filters, review page "
                        "and outputs. Annotations: .jsonl ({video, start, end, caption} per line), .csv (header "
                        "video,start,end,caption), or .srt / .vtt subtitles named like their video (a file or a folder).")
    cp.add_argument("--annotations", required=True, help="timed captions: .jsonl, .csv, .srt, .vtt, or a folder of .srt / .vtt")
    cp.add_argument("--videos", required=True, help="folder of the videos (found by file name without extension)")
    cp.add_argument("--pairs", default="all", choices=("all", "consecutive"), help="which spans of a video to pair (default all)")
    cp.add_argument("--face-filter", action="store_true", help="drop frames that show a human face (as YouCook2)")
    _common(cp)
    cp.set_defaults(func=run_captions)

    sd = sub.add_parser("sd-pairs", help="EQ-SD-style caption pairs (object / scene / attribute changes), optionally rendered")
    add_output_flag(sd, dest="out", required=True, metavar="DIR",
                    help="output folder (pairs.jsonl; with --render also images/ and twins.jsonl)")
    sd.add_argument("--n", type=positive_int, default=1500, help="caption pairs (default 1500)")
    sd.add_argument("--seed", type=nonneg_int, default=0, help="seed of the caption choices and of each rendering")
    sd.add_argument("--render", default=None, metavar="diffusers:DIR", help="render both captions from one seed and noise with a local diffusers pipeline")
    sd.add_argument("--size", type=positive_int, default=512, help="rendered image size (default 512)")
    sd.add_argument("--steps", type=positive_int, default=30, help="denoising steps (default 30)")
    sd.add_argument("--guidance", type=nonneg_float, default=7.5, help="classifier-free guidance scale (default 7.5)")
    add_device_flag(sd)
    sd.add_argument("--export", type=_names, default=(), metavar="FORMAT", help="also export: eqben (needs --render)")
    sd.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    sd.add_argument("--resume", action="store_true", help="keep pairs already rendered")
    add_progress_flag(sd)
    sd.set_defaults(func=run_sd)

    rv = sub.add_parser("review", help="a local page (127.0.0.1) to accept / reject twins by key; decisions appended to a file")
    rv.add_argument("folder", help="a build folder (with twins.jsonl)")
    rv.add_argument("--port", type=port, default=8765, help="TCP port of the page (on 127.0.0.1)")
    rv.add_argument("--decisions", default=None, help="decisions file (default FOLDER/review/decisions.jsonl)")
    rv.set_defaults(func=run_review)

    ex = sub.add_parser("export", help="export a build (optionally only its accepted twins) in EqBen's official layout")
    ex.add_argument("folder", help="a build folder (with twins.jsonl and manifest.json)")
    ex.add_argument("--accepted", default=None, help="keep only the twins accepted in this decisions file (eqvl build review)")
    ex.set_defaults(func=run_export)

    ga = sub.add_parser("gallery", help="draw the first twins of a build folder to a PNG")
    ga.add_argument("folder", help="a build folder (with twins.jsonl)")
    add_output_flag(ga, dest="out", required=True, metavar="PNG", help="PNG to write")
    ga.add_argument("--n", type=positive_int, default=4, help="twins to draw (default 4)")
    ga.add_argument("--overwrite", action="store_true", help="replace an existing PNG")
    ga.set_defaults(func=run_gallery)



def screen_encoder(args: argparse.Namespace):
    if not args.screen_model:
        return None
    from eqvl.models import load_encoder

    return load_encoder(args.screen_model, args.screen_pretrained, device=args.device)


def _config(args: argparse.Namespace, faces: bool = False):
    from eqvl.videotwins.pipeline import BuildConfig
    from eqvl.videotwins.select import ScreenConfig

    screen = ScreenConfig(dedup_bits=args.dedup_bits, duplicate_scope=args.duplicate_scope, sim_low=args.sim_band[0], sim_high=args.sim_band[1],
                          model=args.screen_model, pretrained=args.screen_pretrained if args.screen_model else None)
    return BuildConfig(out=args.out, workers=args.workers, image_format=args.image_format, faces=faces, skip_bad=args.skip_bad,
                       overwrite=args.overwrite, resume=args.resume, progress=not args.no_progress, export=args.export,
                       format=args.format, shard_size=args.shard_size, scenes=args.scene_filter,
                       screen=screen).validate()


def _run(plan, args: argparse.Namespace, faces: bool = False) -> int:
    from eqvl.videotwins.pipeline import run_build

    cfg = _config(args, faces)
    encoder = screen_encoder(args)
    start = time.perf_counter()
    manifest = run_build(plan, cfg, encoder)
    seconds = time.perf_counter() - start
    counts = manifest["counts"]
    dropped = ", ".join(f"{k} {v}" for k, v in counts["dropped"].items()) or "none"
    print(f"wrote {args.out}: {counts['kept']} twins from {counts['candidates']} candidate pairs in {counts['videos']} videos "
          f"({counts['bad_videos']} bad) in {seconds:.1f} s")
    print(f"pairs dropped: {dropped}")
    if counts["annotations_dropped"]:
        print("annotations skipped: " + ", ".join(f"{k} {v}" for k, v in counts["annotations_dropped"].items()))
    if "eqben" in manifest["files"]:
        print(f"EqBen layout: {args.out}/{manifest['files']['eqben']}")
    return 0


def run_ag(args: argparse.Namespace) -> int:
    from eqvl.videotwins.ag import read_ag

    plan = read_ag(args.annotations, frames_dir=args.frames, videos_dir=args.videos, split=args.split)
    return _run(plan, args)


def run_gebc(args: argparse.Namespace) -> int:
    from eqvl.videotwins.filters import DEFAULT_MOTION_WORDS
    from eqvl.videotwins.gebc import read_gebc

    words = args.motion_words if args.motion_words is not None else DEFAULT_MOTION_WORDS
    plan = read_gebc(args.annotations, args.videos, gap=args.gap, motion_words=words)
    return _run(plan, args)


def run_youcook2(args: argparse.Namespace) -> int:
    from eqvl.videotwins.youcook2 import read_youcook2

    plan = read_youcook2(args.annotations, args.videos, pairs=args.pairs, split=args.split)
    return _run(plan, args, faces=not args.no_face_filter)


def run_captions(args: argparse.Namespace) -> int:
    from eqvl.videotwins.captions import read_captions

    plan = read_captions(args.annotations, args.videos, pairs=args.pairs)
    return _run(plan, args, faces=args.face_filter)


def run_sd(args: argparse.Namespace) -> int:
    from eqvl.videotwins.sd_render import RenderConfig, build_sd

    cfg = RenderConfig(size=args.size, steps=args.steps, guidance=args.guidance, device=args.device)
    manifest = build_sd(args.out, args.n, args.seed, args.render, cfg, overwrite=args.overwrite, resume=args.resume,
                        export=args.export, progress=not args.no_progress)
    counts = manifest["counts"]
    aspects = ", ".join(f"{k} {v}" for k, v in counts["aspects"].items())
    print(f"wrote {args.out}: {counts['pairs']} caption pairs ({aspects}; {counts['repeated_captions']} repeat a caption pair with a new seed)")
    if "twins" in manifest["files"]:
        print(f"rendered {counts['pairs']} twins: {args.out}/twins.jsonl")
    return 0


def run_review(args: argparse.Namespace) -> int:
    from eqvl.videotwins.review import serve

    serve(args.folder, port=args.port, decisions=args.decisions)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from eqvl.videotwins.export import export_accepted

    rel, n = export_accepted(args.folder, args.accepted)
    print(f"exported {n} twins: {args.folder}/{rel}")
    return 0


def run_gallery(args: argparse.Namespace) -> int:
    from eqvl.videotwins.gallery import write_twins_picture

    print(f"wrote {write_twins_picture(args.folder, args.out, args.n, args.overwrite)}")
    return 0
