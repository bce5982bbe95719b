"""The napari side of napari-crant: dock widgets, sample data and the ``demo`` command.

Nothing here is imported when napari starts; npe2 imports these modules when a widget or
the sample data is first requested.
"""
