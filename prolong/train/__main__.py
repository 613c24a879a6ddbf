import sys

from prolong.train.cli import cli

sys.exit(cli())
