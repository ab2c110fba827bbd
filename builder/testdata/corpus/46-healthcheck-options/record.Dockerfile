FROM busybox
HEALTHCHECK --interval=30s --timeout=5s --start-period=1m30s --retries=4 \
  CMD wget -q -O /dev/null http://localhost/ || exit 1
