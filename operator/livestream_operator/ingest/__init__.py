"""Ingest: what MediaMTX says about a stream (hook events, the resync over the
Control API) becomes the LiveStream's status.ingest, .output and .recording.
Never imports reconcile/."""
