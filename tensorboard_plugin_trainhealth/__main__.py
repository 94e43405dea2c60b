"""`python -m tensorboard_plugin_trainhealth report LOGDIR`: see cli.py."""

import sys

from tensorboard_plugin_trainhealth.cli import main

sys.exit(main())
