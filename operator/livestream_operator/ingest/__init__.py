"""Ingest: what MediaMTX says about a stream (hook events, the Control API) becomes
the LiveStream's status.ingest and status.output. Never imports reconcile/."""
