# Runs as root: upstream's image runs as a non-root user with the bind capability set on the binary
# (setcap), which a scratch image made without libcap cannot carry; kubeadm's Deployment adds
# NET_BIND_SERVICE and drops every other capability either way.
FROM scratch
COPY coredns /coredns
EXPOSE 53 53/udp
ENTRYPOINT ["/coredns"]
