FROM scratch
COPY coredns /coredns
EXPOSE 53 53/udp
USER 65532:65532
ENTRYPOINT ["/coredns"]
