"""``python -m seprof`` and the ``seprof`` console script.

Ctrl-C is answered with "seprof: aborted" and exit code 130 from the very start, even while the command line
module is being imported.
"""

import sys


def main() -> None:
    """Import the command line and run it."""
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("\nseprof: aborted\n")
        sys.exit(130)
    run()


if __name__ == "__main__":
    main()
