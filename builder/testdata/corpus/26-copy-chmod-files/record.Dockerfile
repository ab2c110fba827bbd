FROM busybox
COPY --chmod=0600 f /f0600
COPY --chmod=755 f /f755
COPY --chmod=4755 f /setuid
COPY --chmod=2711 f /setgid
COPY --chmod=0 f /f0000
COPY --chmod=0640 --chown=nobody:nobody f /both
RUN mkdir /existing-dir-target
COPY --chmod=0444 f g /existing-dir-target/
# --- emulation of current BuildKit (see NOTE): --chmod keeps setuid/setgid/sticky
RUN chmod 4755 /setuid && chmod 2711 /setgid
