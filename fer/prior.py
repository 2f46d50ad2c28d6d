"""`python -m fer.prior`: the command; its code is `fer.training.prior`."""

import sys

from fer.training.prior import main

if __name__ == "__main__":
    sys.exit(main())
