# Debian's redis-server, started the way Argo CD's manifest starts the upstream image (arguments only).
ARG BASE
FROM ${BASE}
WORKDIR /data
USER 999:999
ENTRYPOINT ["redis-server"]
