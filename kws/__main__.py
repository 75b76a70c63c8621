import sys

from kws.cli import main

if __name__ == "__main__":  # worker processes (spawn) import this module too
    sys.exit(main())
