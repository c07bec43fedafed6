"""`python -m tdmpc_parity`: the same as the console command `tdmpc-parity`."""

import sys

from tdmpc_parity.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
