"""`eqvl ground`: find the event boundary between a 'before' and an 'after' caption in a video
(EqBen appendix A.5: frames at --fps, boundary maximising s(I_t, before) + s(I_t+1, after))."""

from __future__ import annotations

import argparse
import json

from eqvl.commands.common import add_device_flag, positive_float, positive_int


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("ground", help="locate the boundary between two status captions in a video (zero-shot)",
                              description="Sample frames at --fps, score each against the before / after captions with "
                              "any eqvl encoder, and print the time of the boundary between frames t and t+1 that "
                              "maximises s(I_t, before) + s(I_t+1, after). Accuracy over a GEBC split: "
                              "`eqvl eval --benchmark gebc-grounding`.")
    p.add_argument("--model", required=True, help="model name, config JSON, hf-hub:/local-dir:/hf: spec")
    p.add_argument("--pretrained", default=None, help="open_clip tag, checkpoint file, or none (random init, on purpose)")
    p.add_argument("--video", required=True, help="video file")
    p.add_argument("--before", required=True, help="caption of the status before the boundary")
    p.add_argument("--after", required=True, help="caption of the status after the boundary")
    p.add_argument("--fps", type=positive_float, default=5.0, help="frames sampled per second (default 5, as the paper)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="frames per encoder call")
    add_device_flag(p)
    p.add_argument("--json", action="store_true", help="print a JSON object (time, frame times and both score rows)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eqvl.encode.types import check_embeds
    from eqvl.grounding.boundary import ground_video
    from eqvl.errors import EqvlError
    from eqvl.models import load_encoder

    if args.fps <= 0:
        raise EqvlError(f"--fps must be positive, got {args.fps}")
    encoder = load_encoder(args.model, args.pretrained, device=args.device)
    g = ground_video(check_embeds(encoder), args.video, args.before, args.after, fps=args.fps, batch_size=args.batch_size)
    if args.json:
        print(json.dumps({"video": args.video, "boundary_s": round(g.time, 4), "frame": g.index, "fps": args.fps,
                          "times": [round(t, 4) for t in g.times], "s_before": [round(float(v), 6) for v in g.s_before],
                          "s_after": [round(float(v), 6) for v in g.s_after]}))
    else:
        print(f"boundary at {g.time:.2f} s (between frames {g.index} and {g.index + 1}, "
              f"at {g.times[g.index]:.2f} s and {g.times[g.index + 1]:.2f} s; {len(g.times)} frames at {args.fps:g} fps)")
    return 0
