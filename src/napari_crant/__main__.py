"""``python -m napari_crant`` runs the ``napari-crant`` command."""

import sys

from napari_crant.cli import main

sys.exit(main())
