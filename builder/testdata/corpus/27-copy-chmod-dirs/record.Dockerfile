FROM busybox
COPY --chmod=0750 dir /newdir/
COPY --chmod=0700 f /parent/sub/f
RUN mkdir /exists
COPY --chmod=0751 dir /exists/
COPY --chmod=0755 dir /tmp/
# --- emulation of current BuildKit (see NOTE): directories created by COPY --chmod get the mode
RUN chmod 0750 /newdir && chmod 0700 /parent /parent/sub
