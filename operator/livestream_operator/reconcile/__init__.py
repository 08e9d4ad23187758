"""Reconcile: a LiveStream becomes its worker and forwarder Pods, its phase and
conditions, and Kubernetes Events. Never imports ingest/."""
