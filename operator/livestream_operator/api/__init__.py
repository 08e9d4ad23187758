"""The LiveStream API: the types every other package reads and writes, the CRD
generated from them, names and paths, and the contract with the Pods."""
