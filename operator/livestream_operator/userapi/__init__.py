"""The users' HTTP API (recordings, snapshots), on its own listener; keyed by the
stream's key through access/."""
