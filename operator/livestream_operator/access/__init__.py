"""Who may publish and read: auth decisions (pure), MediaMTX's auth endpoint around
them, the cluster view of keys and publishing streams, users' access to a stream."""
