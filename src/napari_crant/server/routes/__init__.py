"""One FastAPI router per emulated CAVE service, as caveclient has one sub-client per service.

Each module's ``make_router(ctx)`` builds its service's routes over a
:class:`~napari_crant.server.context.ServerContext`; :func:`napari_crant.server.app.create_app`
composes them.
"""
