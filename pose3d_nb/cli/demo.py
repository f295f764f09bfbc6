"""``pose3d demo``: JupyterLab with the demo notebook."""

from __future__ import annotations

import argparse


def port_number(value: str) -> int:
    """An argparse type: a TCP port, 1 to 65535 (checked here, not by JupyterLab once started)."""
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {value!r}")
    return port


def cmd_demo(args: argparse.Namespace) -> int:
    from pose3d_nb.lab import launch_demo

    launch_demo(port=args.port, open_browser=args.open, work_dir=args.work_dir)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``pose3d demo`` to the command line."""
    demo = commands.add_parser("demo", help="open the demo notebook in JupyterLab (localhost, token)")
    demo.add_argument("--port", type=port_number, default=None,
                      help="port on 127.0.0.1, 1 to 65535 (default: a free one)")
    demo.add_argument("--open", action="store_true", help="also open it in the default web browser")
    demo.add_argument("--work-dir", default=None, help="copy the notebooks here (installed package)")
    demo.set_defaults(func=cmd_demo)
