FROM busybox
# --- emulation of current BuildKit (see NOTE): the primary gid is also a supplementary group
RUN echo 'uid=0(root) gid=0(root) groups=0(root)' > /id-root.txt && printf 'Groups:\t0 \n' > /groups-root.txt
RUN echo 'staff:x:50:nobody' >> /etc/group
USER nobody
RUN echo 'uid=65534(nobody) gid=65534(nobody) groups=50(staff),65534(nobody)' > /tmp/id-nobody.txt && printf 'Groups:\t50 65534 \n' > /tmp/groups-nobody.txt
