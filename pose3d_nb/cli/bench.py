"""``pose3d bench``: benchmarks that print measured numbers."""

from __future__ import annotations

import argparse

from pose3d_nb.cli.common import UsageError, positive_count, seed_number

#: The benchmarks each option is used by (``--json``: all of them). An option given to another
#: benchmark is refused before it runs (``check_bench_options``): it was ignored, so
#: ``bench accuracy --smoke`` ran the full benchmark.
USED_BY = {
    "views": ("accuracy", "world", "follow"),
    "mocap": ("accuracy", "viewpoints", "world", "left-right", "offline-lift"),
    "smoke": ("viewpoints", "world", "left-right", "offline-lift", "follow"),
    "plot": ("viewpoints", "world"),
    "threads": ("lifter",),
    "source": ("detect", "pipeline", "people"),
    "max_frames": ("detect", "pipeline", "people", "batch", "recording"),
    "clips": ("batch",),
    "seed": ("offline-lift",),
}
#: The values of the options left out (their parser default is None, so that one given can be
#: told apart from one left out, even when given its default value).
DEFAULTS = {"threads": 1, "source": "sample", "clips": 6, "seed": 11}


def check_bench_options(args: argparse.Namespace) -> None:
    """``UsageError`` (exit 2, before anything runs) naming the options given that the chosen
    benchmark does not use, and the benchmarks that do use each; ``SourceError`` (exit 2 too)
    for a ``--source`` that names nothing."""
    unused = [name for name, used_by in USED_BY.items()
              if getattr(args, name) not in (None, False) and args.what not in used_by]
    if unused:
        options = {name: "--" + name.replace("_", "-") for name in unused}
        said = "; ".join(f"{options[name]} only with {', '.join(USED_BY[name])}" for name in unused)
        raise UsageError(f"bench {args.what} does not use {', '.join(options.values())} ({said})")
    if args.source is not None:  # a missing video: refused before the benchmark loads anything
        from pose3d_nb.sources.open import accepted_options

        accepted_options(args.source)


def _with_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with the options left out (None) at their values (``DEFAULTS``)."""
    given = vars(args)
    return argparse.Namespace(**{**given, **{name: value for name, value in DEFAULTS.items()
                                             if given.get(name) is None}})


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark ``args.what`` with its options (checked first by ``check_bench_options``)."""
    args = _with_defaults(args)
    if args.what == "lifter":
        from pose3d_nb.benchmarks.lifter import run

        run(threads=args.threads, as_json=args.json)
    elif args.what == "detect":
        from pose3d_nb.benchmarks.detect import run

        run(source=args.source, max_frames=args.max_frames, as_json=args.json)
    elif args.what == "accuracy":
        from pose3d_nb.benchmarks.accuracy import run

        run(views_dir=args.views, mocap_dir=args.mocap, as_json=args.json)
    elif args.what == "viewpoints":
        from pose3d_nb.benchmarks.viewpoints import run

        run(mocap_dir=args.mocap, smoke=args.smoke, as_json=args.json, plot_path=args.plot)
    elif args.what == "world":
        from pose3d_nb.benchmarks.world import run

        run(views_dir=args.views, mocap_dir=args.mocap, smoke=args.smoke, as_json=args.json, plot=args.plot)
    elif args.what == "pipeline":
        from pose3d_nb.benchmarks.pipeline import run

        run(source=args.source, max_frames=args.max_frames, as_json=args.json)
    elif args.what == "people":
        from pose3d_nb.benchmarks.people import run

        # the default source: the sample and the two-people clip; otherwise the one given
        run(sources=None if args.source == "sample" else [args.source], max_frames=args.max_frames,
            as_json=args.json)
    elif args.what == "follow":
        from pose3d_nb.benchmarks.follow import run

        run(people_dir=args.views, smoke=args.smoke, as_json=args.json)
    elif args.what == "recording":
        from pose3d_nb.benchmarks.recording import run

        run(frames=args.max_frames, as_json=args.json)
    elif args.what == "left-right":
        from pose3d_nb.benchmarks.left_right import run

        run(mocap_dir=args.mocap, clips=20 if args.smoke else 300, as_json=args.json)
    elif args.what == "offline-lift":
        from pose3d_nb.benchmarks.offline_lift import run

        run(mocap_dir=args.mocap, clips=4 if args.smoke else 60, seed=args.seed, as_json=args.json)
    elif args.what == "batch":
        from pose3d_nb.benchmarks.batch import run

        run(clips=args.clips, frames=args.max_frames, as_json=args.json)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``pose3d bench`` to the command line."""
    bench = commands.add_parser(
        "bench", help="benchmarks that print measured numbers",
        description="Each option applies to the benchmarks its help names (--json to all); one given "
                    "to another benchmark is refused.")
    bench.add_argument(
        "what", choices=["lifter", "detect", "pipeline", "accuracy", "viewpoints", "world", "batch", "people",
                 "follow", "recording", "left-right", "offline-lift"]
    )
    bench.add_argument("--views", default=None,
                       help="benchmark folder: views_3d (accuracy, world) or multi_person (follow)")
    bench.add_argument("--mocap", default=None,
                       help="held-out mocap folder (accuracy, viewpoints, world, left-right, offline-lift)")
    bench.add_argument("--smoke", action="store_true",
                       help="viewpoints, world, left-right, offline-lift: a few samples, a quick check; "
                            "follow: cam02 only")
    bench.add_argument("--plot", default=None, help="viewpoints, world: save the plot to this PNG "
                       "(world without --smoke: docs/world_sweep.png unless given)")
    bench.add_argument("--json", action="store_true",
                       help="last line: one JSON object (follow: a JSON list, a row per view)")
    bench.add_argument("--threads", type=positive_count, default=None,
                       help="lifter: torch threads (default 1)")
    bench.add_argument("--source", default=None,
                       help="detect, pipeline, people: a video, image folder or camera (default: the sample; "
                            "people: the sample and, if present, ../shared's two-people clip)")
    bench.add_argument("--max-frames", type=positive_count, default=None,
                       help="detect, pipeline, people: frames (default all); batch: per clip (default 50, "
                            "at most 100); recording: rows (default 108000)")
    bench.add_argument("--clips", type=positive_count, default=None,
                       help="batch: clips cut from the sample (default 6)")
    bench.add_argument("--seed", type=seed_number, default=None,
                       help="offline-lift: which held-out clips and cameras (default 11, which reports; "
                            "41 and 43 chose)")
    bench.set_defaults(func=cmd_bench, check=check_bench_options)
