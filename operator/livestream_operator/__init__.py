"""livestream-operator: RTMP in, a worker per stream, restream out, on Kubernetes."""

__version__ = "0.1.0"
