# Stands in for ghcr.io/dexidp/dex, which no reachable registry or module proxy serves. Argo CD's dex
# pod runs its own argocd-dex (copied from the Argo CD image by an init container), which looks up
# `dex` on PATH and starts it only when SSO is configured; the suites configure none.
ARG BASE
FROM ${BASE}
COPY dex /usr/local/bin/dex
USER 1001:1001
