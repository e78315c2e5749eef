# kube-proxy programs the node's netfilter with the iptables tools, so it runs on the Debian apps root
# file system (iptables, nftables, conntrack); Debian's iptables is the nft variant, the one kind's
# entrypoint picks on kernels with nf_tables.
ARG BASE
FROM ${BASE}
COPY kube-proxy /usr/local/bin/kube-proxy
