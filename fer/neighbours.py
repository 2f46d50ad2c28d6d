"""`python -m fer.neighbours`: the command; its code is `fer.recommend.neighbours`."""

import sys

from fer.recommend.neighbours import main

if __name__ == "__main__":
    sys.exit(main())
