"""The synapse QC dock, in small widgets that render :class:`~napari_crant.qc.review.ReviewModel`.

``dock`` composes ``review_panel`` (Review tab), ``edits_panel`` (Edits tab), ``canvas`` (layers
and camera), ``keys`` (review keys), ``table`` (the review list's Qt model) and ``workers``.
"""
