# Argo CD's image laid out as its Dockerfile does (user argocd 999, helper scripts, /app/config,
# tini), on the Debian apps root file system, with the harness's own `argocd`, helm and kustomize builds.
# Not here: the web UI (the module ships a placeholder).
ARG BASE
FROM ${BASE}
ENV ARGOCD_USER_ID=999 USER=argocd GRPC_ENABLE_TXT_SERVICE_CONFIG=false
RUN set -eux; \
    groupadd -g 999 argocd; \
    useradd -r -u 999 -g argocd argocd; \
    mkdir -p /home/argocd /app/config/ssh /app/config/tls /app/config/gpg/source /app/config/gpg/keys; \
    chown argocd:0 /home/argocd; chmod g=u /home/argocd; \
    touch /app/config/ssh/ssh_known_hosts; \
    ln -sf /app/config/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts; \
    chown argocd /app/config/gpg/keys; chmod 0700 /app/config/gpg/keys; \
    git lfs install --skip-repo --system
COPY bin/ /usr/local/bin/
RUN set -eux; \
    ln -sf /usr/local/bin/entrypoint.sh /usr/local/bin/uid_entrypoint.sh; \
    for n in server repo-server cmp-server application-controller dex notifications \
      applicationset-controller k8s-auth commit-server; do ln -sf /usr/local/bin/argocd "/usr/local/bin/argocd-$n"; done; \
    argocd version --client --short
WORKDIR /home/argocd
USER 999
ENTRYPOINT ["/usr/bin/tini", "--"]
