import sys

from seedchat.cli import main

sys.exit(main())
