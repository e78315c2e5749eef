# The hook image: Debian's static busybox and its applets on an empty file system.
ARG BASE
FROM ${BASE} AS debian
FROM scratch
COPY --from=debian /usr/bin/busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN ["/bin/mkdir", "-p", "-m", "1777", "/tmp"]
CMD ["sh"]
