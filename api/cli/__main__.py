"""``python -m api.cli``: the ``platinum`` command line."""

from api.cli.main import main

main()
