"""Synapse QC (Qt-free): verdict storage, worklists of likely errors, edit and version diffs."""
