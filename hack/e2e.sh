#!/usr/bin/env bash
# End-to-end tier: bring the system up on kind (idempotent: an existing cluster
# is reused and only what changed is rebuilt), then run tests/e2e against it.
#
# With LSO_E2E_KUBECONFIG set, no cluster is made: the tests run against that
# cluster, where the chart must already be installed (any conformant cluster).
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

if [ -n "${LSO_E2E_KUBECONFIG:-}" ]; then
  export KUBECONFIG="$LSO_E2E_KUBECONFIG"
else
  LSO_SKIP_DEMO=1 bash "$HACK_DIR/up.sh"
  export KUBECONFIG="$CACHE_DIR/kind-$CLUSTER_NAME.kubeconfig"
fi
PATH="$(bash "$HACK_DIR/build-tools.sh"):$PATH"; export PATH
exec "${PYTHON:-.venv/bin/python}" -m pytest tests/e2e -q "$@"
