"""`python -m fer.movies`: the command; its code is `fer.recommend.cli`."""

import sys

from fer.recommend.cli import main

if __name__ == "__main__":
    sys.exit(main())
