# One static binary on an empty file system, on PATH; the control-plane and etcd images.
FROM scratch
ARG BINARY
COPY ${BINARY} /usr/local/bin/${BINARY}
ENV PATH=/usr/local/bin:/usr/bin:/bin
